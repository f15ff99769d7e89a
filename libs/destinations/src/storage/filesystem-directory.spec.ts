import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FilesystemDirectory } from './filesystem-directory';

const roots: string[] = [];
afterAll(() => Promise.all(roots.map((root) => rm(root, { recursive: true, force: true }))));

async function setup() {
  const root = await mkdtemp(path.join(os.tmpdir(), 'dispatch-storage-'));
  roots.push(root);
  const directory = path.join(root, 'exports');
  const outside = path.join(root, 'outside');
  await mkdir(directory);
  await mkdir(outside);
  return { sut: new FilesystemDirectory(directory), directory, outside, root, cleanUp: () => rm(root, { recursive: true, force: true }) };
}

describe('a filesystem directory files are written to', () => {
  it('writes a file at its key, making the folders the key names, and leaves no temporary file', async () => {
    const { sut, directory, cleanUp } = await setup();
    expect(await sut.put('acme/2026/report.csv', Readable.from([Buffer.from('a,b\n'), Buffer.from('1,2\n')]))).toEqual({ path: 'acme/2026/report.csv' });
    expect(await readFile(path.join(directory, 'acme/2026/report.csv'), 'utf8')).toBe('a,b\n1,2\n');
    await sut.put('acme/2026/report.csv', Readable.from(['again']));
    expect(await readdir(path.join(directory, 'acme/2026'))).toEqual(['report.csv']);
    await cleanUp();
  });

  it('refuses keys that lead out of it: ".." segments, and a folder that is a symbolic link out', async () => {
    const { sut, directory, outside, cleanUp } = await setup();
    await expect(sut.put('../outside/x.txt', Readable.from(['x']))).rejects.toMatchObject({ code: 'STORAGE_ESCAPE' });
    await symlink(outside, path.join(directory, 'link'));
    await expect(sut.put('link/x.txt', Readable.from(['x']))).rejects.toMatchObject({ code: 'STORAGE_ESCAPE' });
    expect(await readdir(outside)).toEqual([]);
    await cleanUp();
  });

  it('leaves no file when the content fails midway, and fails plainly when the directory is gone', async () => {
    const { sut, directory, root, cleanUp } = await setup();
    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial'));
        this.destroy(new Error('source failed'));
      },
    });
    await expect(sut.put('broken.txt', failing)).rejects.toThrow('source failed');
    expect(await readdir(directory)).toEqual([]);
    await expect(sut.check()).resolves.toBeUndefined();
    const missing = new FilesystemDirectory(path.join(root, 'missing'));
    await expect(missing.put('x.txt', Readable.from(['x']))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(missing.check()).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(path.join(root, 'file'), 'x');
    await expect(new FilesystemDirectory(path.join(root, 'file')).check()).rejects.toMatchObject({ code: 'ENOTDIR' });
    await cleanUp();
  });
});
