import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A key that would leave the destination's directory (a `..` segment, or a symbolic link that points out of it). */
export class DirectoryEscapeError extends Error {
  readonly code = 'STORAGE_ESCAPE';

  constructor(key: string) {
    super(`"${key.slice(0, 200)}" leads out of the destination's directory`);
    this.name = 'DirectoryEscapeError';
  }
}

/**
 * Files written under one directory of the local filesystem, never outside it: the directory
 * must exist; the folders a key names are created inside it, each checked (after following
 * symbolic links) to still be inside; each file is written under a temporary name, then renamed.
 */
export class FilesystemDirectory {
  constructor(readonly directory: string) {}

  /** Writes `body` as `key` (`/`-separated, relative to the directory), streamed; resolves with the path written. */
  async put(key: string, body: Readable, signal?: AbortSignal): Promise<{ path: string }> {
    const base = await realpath(this.directory);
    const segments = key.split('/').filter((segment) => segment !== '');
    if (segments.length === 0 || segments.some((segment) => segment === '.' || segment === '..')) throw new DirectoryEscapeError(key);
    let folder = base;
    for (const segment of segments.slice(0, -1)) {
      const next = path.join(folder, segment);
      await mkdir(next).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
      folder = await realpath(next);
      if (!inside(base, folder)) throw new DirectoryEscapeError(key);
    }
    const name = segments[segments.length - 1];
    const target = path.join(folder, name);
    const partial = path.join(folder, `.${name.slice(0, 200)}.${randomBytes(6).toString('hex')}.partial`);
    try {
      await pipeline(body, createWriteStream(partial, { flags: 'wx', mode: 0o640 }), { signal });
      await rename(partial, target);
    } catch (error) {
      body.destroy();
      await rm(partial, { force: true });
      throw error;
    }
    return { path: path.relative(base, target) };
  }

  /** Checks that the directory exists, is a directory and can be written to; writes nothing. */
  async check(): Promise<void> {
    const base = await realpath(this.directory);
    if (!(await stat(base)).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, '${this.directory}'`), { code: 'ENOTDIR' });
    await access(base, constants.W_OK | constants.X_OK);
  }
}

function inside(base: string, candidate: string): boolean {
  return candidate === base || candidate.startsWith(base + path.sep);
}
