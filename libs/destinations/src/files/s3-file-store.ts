import type { Readable } from 'node:stream';
import { EgressGuard } from '../egress';
import { S3Location, S3ObjectMissingError, S3Objects } from '../storage/s3-objects';
import { FILE_ID, FileMissingError, FileStore, measuring } from './file-store';

/**
 * The deployment's own bucket: configured by its operator, not by a destination, so any
 * address is allowed (a MinIO on the private network, say).
 */
const ANY_ADDRESS = new EgressGuard(['0.0.0.0/0', '::/0']);

/** Files as objects of one S3-compatible bucket, under `prefix` (multipart above 8 MiB, streamed both ways). */
export class S3FileStore implements FileStore {
  private readonly objects: S3Objects;

  constructor(
    location: S3Location,
    private readonly prefix = '',
  ) {
    this.objects = new S3Objects(location, { egress: ANY_ADDRESS });
  }

  async put(id: string, content: Readable): Promise<{ size: number; sha256: string }> {
    const key = this.keyOf(id);
    const measure = measuring();
    content.once('error', (error) => measure.stream.destroy(error));
    // A failed upload leaves nothing: a multipart one is aborted, a single PutObject never lands.
    await this.objects.put(key, content.pipe(measure.stream), { contentType: 'application/octet-stream' });
    return measure.measured();
  }

  async open(id: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      return await this.objects.get(this.keyOf(id), range);
    } catch (error) {
      if (error instanceof S3ObjectMissingError) throw new FileMissingError(id);
      throw error;
    }
  }

  size(id: string): Promise<number | null> {
    return this.objects.head(this.keyOf(id));
  }

  remove(id: string): Promise<void> {
    return this.objects.delete(this.keyOf(id));
  }

  close(): void {
    this.objects.close();
  }

  private keyOf(id: string): string {
    if (!FILE_ID.test(id)) throw new FileMissingError(id);
    return `${this.prefix}${id}`;
  }
}
