import type { Database, PrismaClient } from './prisma';

/** A file a producer uploaded, as recorded (its bytes are in the file store under `id`). */
export type UploadedFileRecord = Readonly<{ id: string; organizationId: string; size: number; sha256: string; createdAt: Date }>;

/** The uploaded files of each organization (`POST /v1/files`). */
export class FileRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  async record(file: { id: string; organizationId: string; size: number; sha256: string }): Promise<UploadedFileRecord> {
    const row = await this.prisma.uploadedFile.create({ data: { ...file, size: BigInt(file.size) } });
    return { ...row, size: Number(row.size) };
  }

  /** Of `ids`, those that are not files of the organization (one query for all). */
  async missing(organizationId: string, ids: readonly string[]): Promise<Set<string>> {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return new Set();
    const rows = await this.database.sql<{ id: string }>(
      'SELECT id FROM files WHERE organization_id = $1 AND id = ANY($2::text[])',
      [organizationId, wanted],
      'files_of_organization',
    );
    const found = new Set(rows.map((row) => row.id));
    return new Set(wanted.filter((id) => !found.has(id)));
  }

  /**
   * Removes the rows of up to `limit` of the organization's files uploaded before `cutoff` that
   * no event still kept names (`data.fileId`); answers their ids, whose bytes the caller removes.
   */
  async removeUnnamed(organizationId: string, cutoff: Date, limit: number): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`
      DELETE FROM files WHERE id IN (
        SELECT f.id FROM files f
        WHERE f.organization_id = ${organizationId} AND f.created_at < ${cutoff}
          AND NOT EXISTS (
            SELECT 1 FROM events e
            WHERE e.organization_id = f.organization_id AND e.data ? 'fileId' AND e.data->>'fileId' = f.id
          )
        ORDER BY f.created_at
        LIMIT ${limit}
      )
      RETURNING id`;
    return rows.map((row) => row.id);
  }
}
