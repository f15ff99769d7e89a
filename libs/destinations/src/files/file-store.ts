import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';

/**
 * Where the files producers upload (`POST /v1/files`) are kept, for the deliveries that send
 * them (`data.fileId`). Files are streamed in and out, never held whole in memory.
 */
export interface FileStore {
  /** Stores `content` as file `id`; resolves its size and SHA-256 (hex). A write that fails leaves no file. */
  put(id: string, content: Readable): Promise<{ size: number; sha256: string }>;
  /** The file's bytes, streamed (`range`: first and last byte, inclusive); `FileMissingError` when there is no such file. */
  open(id: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Its size in bytes, or null when there is no such file. */
  size(id: string): Promise<number | null>;
  /** Removes the file; nothing happens when there is none. */
  remove(id: string): Promise<void>;
}

/** The injection token of the deployment's one FileStore, shared by the senders and the files route. */
export const FILE_STORE = 'dispatch.fileStore';

export class FileMissingError extends Error {
  readonly code = 'FILE_MISSING';

  constructor(id: string) {
    super(`file ${id} does not exist (it was removed, or never uploaded here)`);
    this.name = 'FileMissingError';
  }
}

/** A file id as Dispatch makes them (`fil_…`): the only names a store keeps, so none can leave its place. */
export const FILE_ID = /^fil_[0-9a-z]{1,64}$/;

/**
 * A stream that passes a file's bytes through as they are, counting them and hashing them
 * (SHA-256) on the way: what a store answers once the file is written.
 */
export function measuring(): { stream: Transform; measured: () => { size: number; sha256: string } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, measured: () => ({ size, sha256: hash.digest('hex') }) };
}
