import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FILE_ID, FileMissingError, FileStore, measuring } from './file-store';

/** Files in one directory of the local filesystem, one per id; written under a temporary name, then renamed. */
export class FilesystemFileStore implements FileStore {
  constructor(private readonly directory: string) {}

  async put(id: string, content: Readable): Promise<{ size: number; sha256: string }> {
    const target = this.pathOf(id);
    await mkdir(this.directory, { recursive: true });
    const partial = `${target}.${randomBytes(6).toString('hex')}.partial`;
    const measure = measuring();
    try {
      await pipeline(content, measure.stream, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return measure.measured();
  }

  async open(id: string, range?: { start: number; end: number }): Promise<Readable> {
    const file = this.pathOf(id);
    if ((await this.size(id)) === null) throw new FileMissingError(id);
    return createReadStream(file, range ? { start: range.start, end: range.end } : {});
  }

  async size(id: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(id))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async remove(id: string): Promise<void> {
    await rm(this.pathOf(id), { force: true });
  }

  private pathOf(id: string): string {
    if (!FILE_ID.test(id)) throw new FileMissingError(id);
    return path.join(this.directory, id);
  }
}
