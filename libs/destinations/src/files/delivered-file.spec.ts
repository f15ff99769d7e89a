import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { retryPolicySchema } from '@dispatch/domain';
import { deliveredFile, UndeliverableFileError } from './delivered-file';
import { FilesystemFileStore } from './filesystem-file-store';

async function setup() {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'dispatch-files-'));
  const files = new FilesystemFileStore(directory);
  const request = (data: unknown, fileName?: string) => ({
    destinationId: 'dst_1',
    organizationId: 'org_1',
    config: fileName === undefined ? {} : { fileName },
    secrets: [],
    retryPolicy: retryPolicySchema.parse({}),
    deliveryId: 'dlv_1',
    attemptNumber: 1,
    event: { id: 'evt_1', type: 'report.ready', data, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  });
  return { sut: deliveredFile, files, request, cleanUp: () => rm(directory, { recursive: true, force: true }) };
}

describe('the file a file kind delivers', () => {
  it('is the event as JSON by default, named {event.id}.json', async () => {
    const { sut, files, request, cleanUp } = await setup();
    const file = await sut(request({ total: 3 }), files);
    expect(file).toMatchObject({ name: 'evt_1.json', contentType: 'application/json' });
    const body = await text(await file.open());
    expect(JSON.parse(body)).toEqual({ id: 'evt_1', type: 'report.ready', timestamp: '2026-01-02T03:04:05.000Z', data: { total: 3 } });
    expect(file.size).toBe(Buffer.byteLength(body));
    await cleanUp();
  });

  it('is the uploaded file data.fileId names, streamed from the store, or inline content', async () => {
    const { sut, files, request, cleanUp } = await setup();
    await files.put('fil_abc', Readable.from([Buffer.from('a,b\n1,2\n')]));
    const uploaded = await sut(request({ fileId: 'fil_abc', report: 'daily' }, '{data.report}.csv'), files);
    expect(uploaded).toMatchObject({ name: 'daily.csv', contentType: 'application/octet-stream', size: 8 });
    expect(await text(await uploaded.open())).toBe('a,b\n1,2\n');
    expect(await text(await (await sut(request({ content: 'héllo' }), files)).open())).toBe('héllo');
    const binary = await sut(request({ contentBase64: Buffer.from([0, 1, 2]).toString('base64') }), files);
    expect(Buffer.from(await text(await binary.open()), 'latin1')).toEqual(Buffer.from([0, 1, 2]));
    expect(binary.size).toBe(3);
    await cleanUp();
  });

  it('refuses, as undeliverable, a missing file, bad base64 and a name that is not one file name', async () => {
    const { sut, files, request, cleanUp } = await setup();
    await expect(sut(request({ fileId: 'fil_gone' }), files)).rejects.toThrow(
      new UndeliverableFileError('file fil_gone does not exist (it was removed, or never uploaded here)'),
    );
    await expect(sut(request({ fileId: '../etc/passwd' }), files)).rejects.toBeInstanceOf(UndeliverableFileError);
    await expect(sut(request({ contentBase64: 'not base64!' }), files)).rejects.toThrow('data.contentBase64 is not base64');
    await expect(sut(request({ name: '..' }, '{data.name}'), files)).rejects.toThrow('is not a file name');
    await expect(sut(request({ name: 'a/b' }, '{data.name}.txt'), files)).rejects.toThrow('is not a file name');
    await expect(sut(request({}, '{data.name}.txt'), files)).rejects.toThrow("fileName: the event's data has no value at {data.name}");
    await cleanUp();
  });
});

describe('the filesystem file store', () => {
  it('streams a file in and out (ranges too), with its size and SHA-256, and removes it', async () => {
    const { files, cleanUp } = await setup();
    const stored = await files.put('fil_x1', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(stored).toEqual({ size: 11, sha256: 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9' });
    expect(await text(await files.open('fil_x1', { start: 6, end: 10 }))).toBe('world');
    expect(await files.size('fil_x1')).toBe(11);
    await files.remove('fil_x1');
    expect(await files.size('fil_x1')).toBeNull();
    await expect(files.open('fil_x1')).rejects.toMatchObject({ code: 'FILE_MISSING' });
    await cleanUp();
  });

  it('leaves no file when the upload fails midway, and keeps ids inside its directory', async () => {
    const { files, cleanUp } = await setup();
    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial'));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(files.put('fil_broken', failing)).rejects.toThrow('client went away');
    expect(await files.size('fil_broken')).toBeNull();
    await expect(files.put('../escape', Readable.from(['x']))).rejects.toMatchObject({ code: 'FILE_MISSING' });
    await cleanUp();
  });
});
