import type { Database, PrismaClient } from './prisma';

export type NewDownloadLink = {
  id: string;
  organizationId: string;
  deliveryId: string;
  fileId: string;
  name: string;
  contentType: string;
  size: number;
  expiresAt: Date;
  maxDownloads: number | null;
};

export type DownloadLinkRecord = NewDownloadLink & { downloads: number; fileRemovedAt: Date | null; createdAt: Date };

/** The links `download` destinations make, the downloads served from them, and the files of expired ones. */
export class DownloadLinkRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  async record(link: NewDownloadLink): Promise<void> {
    await this.prisma.downloadLink.create({ data: { ...link, size: BigInt(link.size) } });
  }

  async find(id: string): Promise<DownloadLinkRecord | null> {
    const row = await this.prisma.downloadLink.findUnique({ where: { id } });
    return row && { ...row, size: Number(row.size) };
  }

  /** The newest link a delivery made (a delivery attempted again makes another). */
  async latestOf(organizationId: string, deliveryId: string): Promise<DownloadLinkRecord | null> {
    const row = await this.prisma.downloadLink.findFirst({ where: { organizationId, deliveryId }, orderBy: { createdAt: 'desc' } });
    return row && { ...row, size: Number(row.size) };
  }

  /**
   * Counts one download of link `id` and logs it, in one statement, if the link may still serve
   * one (not expired, its file not removed, fewer than `maxDownloads` served): the count is
   * raised under the row's lock, so concurrent downloads never pass the limit. False when not.
   */
  async countDownload(id: string, at: Date, ip: string, userAgent: string | null): Promise<boolean> {
    const rows = await this.database.sql<{ id: string }>(
      `WITH counted AS (
         UPDATE download_links SET downloads = downloads + 1
         WHERE id = $1 AND expires_at > $2 AND file_removed_at IS NULL AND (max_downloads IS NULL OR downloads < max_downloads)
         RETURNING id
       ), logged AS (
         INSERT INTO downloads (link_id, at, ip, user_agent) SELECT id, $2, $3, $4 FROM counted
       )
       SELECT id FROM counted`,
      [id, at.toISOString(), ip, userAgent],
      'count_download',
    );
    return rows.length > 0;
  }

  /** The downloads served from every link of a delivery, oldest first. */
  async downloadsOf(organizationId: string, deliveryId: string, limit: number): Promise<{ at: Date; ip: string; userAgent: string | null }[]> {
    return this.prisma.$queryRaw`
      SELECT d.at, d.ip, d.user_agent AS "userAgent" FROM downloads d
      JOIN download_links l ON l.id = d.link_id
      WHERE l.organization_id = ${organizationId} AND l.delivery_id = ${deliveryId}
      ORDER BY d.id
      LIMIT ${limit}`;
  }

  /** Up to `limit` links expired by `now` whose file is still kept: the maintenance queue removes their files. */
  async expiredWithFiles(now: Date, limit: number): Promise<{ id: string; fileId: string }[]> {
    return this.prisma.downloadLink.findMany({
      where: { expiresAt: { lte: now }, fileRemovedAt: null },
      select: { id: true, fileId: true },
      orderBy: { expiresAt: 'asc' },
      take: limit,
    });
  }

  /**
   * Removes up to `limit` links that expired before `cutoff` (retention), with their download
   * logs; answers the files of those whose file was still kept, for the caller to remove.
   */
  async removeExpiredBefore(cutoff: Date, limit: number): Promise<{ removed: number; files: string[] }> {
    const rows = await this.prisma.$queryRaw<{ file_id: string; file_removed_at: Date | null }[]>`
      WITH gone AS (
        DELETE FROM download_links WHERE id IN (
          SELECT id FROM download_links WHERE expires_at < ${cutoff} ORDER BY expires_at LIMIT ${limit}
        )
        RETURNING id, file_id, file_removed_at
      ), logs AS (
        DELETE FROM downloads WHERE link_id IN (SELECT id FROM gone)
      )
      SELECT file_id, file_removed_at FROM gone`;
    return { removed: rows.length, files: rows.filter((row) => row.file_removed_at === null).map((row) => row.file_id) };
  }

  async markFilesRemoved(ids: readonly string[], at: Date): Promise<void> {
    await this.prisma.downloadLink.updateMany({ where: { id: { in: [...ids] } }, data: { fileRemovedAt: at } });
  }
}
