import { Inject, Injectable, PayloadTooLargeException } from '@nestjs/common';
import { Readable, Transform } from 'node:stream';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { FILE_STORE, FileStore } from '@dispatch/destinations';
import { FileRepository, UploadedFileRecord } from '@dispatch/db';
import { newId } from '@dispatch/domain';

/**
 * Keeps a file a producer uploads for its events (`data.fileId`): streamed into the file store,
 * then recorded for its organization. A file larger than DISPATCH_FILES_MAX_BYTES is refused
 * (413) as soon as it is known to be, and nothing of it is kept.
 */
@Injectable()
export class UploadFile {
  constructor(
    @Inject(FILE_STORE) private readonly store: FileStore,
    private readonly files: FileRepository,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {}

  /** `declaredSize`: the request's Content-Length, when it has one. */
  async execute(organizationId: string, content: Readable, declaredSize: number | undefined): Promise<UploadedFileRecord> {
    const maxBytes = this.config.files.maxBytes;
    if (declaredSize !== undefined && declaredSize > maxBytes) throw tooLarge(maxBytes);
    const id = newId('fil');
    let received = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        done(received > maxBytes ? tooLarge(maxBytes) : null, chunk);
      },
    });
    // Piped rather than part of the store's pipeline, so that a refused upload leaves the request
    // open for the 413 answer: what is left of it is read and thrown away.
    content.pipe(limit);
    content.once('error', (error) => limit.destroy(error));
    let stored: { size: number; sha256: string };
    try {
      stored = await this.store.put(id, limit);
    } catch (error) {
      content.unpipe(limit);
      content.resume();
      throw error;
    }
    try {
      return await this.files.record({ id, organizationId, ...stored });
    } catch (error) {
      await this.store.remove(id);
      throw error;
    }
  }
}

function tooLarge(maxBytes: number): PayloadTooLargeException {
  return new PayloadTooLargeException(`The file is larger than DISPATCH_FILES_MAX_BYTES (${maxBytes} bytes); nothing of it was kept`);
}
