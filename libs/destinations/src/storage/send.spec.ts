import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { retryPolicySchema, webhookBody } from '@dispatch/domain';
import { AZURITE_ACCOUNT, emptyFileStore, S3RVER_KEY, startAzurite, startS3rver } from '@dispatch/testing';
import { EgressGuard } from '../egress';
import { FilesystemFileStore } from '../files';
import { storageConfigSchema } from './config';
import { StorageSender } from './send';
import { configureStorage, storageSettings } from './settings';

const MiB = 1024 * 1024;

describe('the storage sender', () => {
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let azurite: Awaited<ReturnType<typeof startAzurite>>;
  let directory: string;
  const before = storageSettings();

  beforeAll(async () => {
    s3 = await startS3rver(['exports']);
    azurite = await startAzurite(['exports']);
    directory = await mkdtemp(path.join(os.tmpdir(), 'dispatch-storage-send-'));
    configureStorage({ ...before, directories: [directory] });
  });

  afterAll(async () => {
    configureStorage(before);
    await Promise.all([s3?.close(), azurite?.close(), rm(directory, { recursive: true, force: true })]);
  });

  function setup(config: Record<string, unknown>, options: { egress?: EgressGuard; files?: FilesystemFileStore } = {}) {
    const mocks = { egress: options.egress ?? new EgressGuard(['127.0.0.0/8']), files: options.files ?? emptyFileStore() };
    const sut = new StorageSender({ timeoutMs: 10_000, replyMaxBytes: 4_096, ...mocks }, { partBytes: 5 * MiB });
    const request = (data: unknown = { total: 3 }) => ({
      destinationId: 'dst_1',
      organizationId: 'org_acme',
      config: storageConfigSchema.parse({ fileName: '{event.id}.json', ...config }),
      secrets: [],
      retryPolicy: retryPolicySchema.parse({}),
      deliveryId: 'dlv_1',
      attemptNumber: 1,
      event: { id: `evt_${Math.random().toString(36).slice(2)}`, type: 'report.ready', data, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
    });
    return { sut, mocks, request };
  }

  const s3Config = { provider: 's3', endpoint: '', region: 'us-east-1', bucket: 'exports', forcePathStyle: true, prefix: 'daily/{organization}/', ...S3RVER_KEY };
  const s3Objects = async (key: string) => {
    const { S3Objects } = await import('./s3-objects');
    const objects = new S3Objects({ ...s3Config, endpoint: s3.endpoint }, { egress: new EgressGuard(['127.0.0.0/8']) });
    return text(await objects.get(key)).finally(() => objects.close());
  };

  it('writes the event as JSON to an S3 bucket at prefix + file name, and records where in its reply', async () => {
    const { sut, request } = setup({ ...s3Config, endpoint: s3.endpoint });
    const sent = request();
    const result = await sut.send(sent, AbortSignal.timeout(10_000));
    const key = `daily/org_acme/${sent.event.id}.json`;
    expect(result).toMatchObject({ verdict: 'delivered' });
    expect(JSON.parse(result.reply!)).toEqual({ provider: 's3', bucket: 'exports', key, etag: expect.any(String) });
    expect(await s3Objects(key)).toBe(webhookBody(sent.event));
    await sut.close();
  });

  it('writes an uploaded file bigger than a part as a multipart upload, streamed from the file store', async () => {
    const files = new FilesystemFileStore(path.join(directory, '.files'));
    await files.put('fil_big', Readable.from(Array.from({ length: 11 }, (_, index) => Buffer.alloc(MiB, index))));
    const { sut, request } = setup({ ...s3Config, endpoint: s3.endpoint, fileName: 'big.bin' }, { files });
    const result = await sut.send(request({ fileId: 'fil_big' }), AbortSignal.timeout(10_000));
    expect(result.verdict).toBe('delivered');
    const written = await readFile(path.join(s3.directory, 'exports', 'daily', 'org_acme', 'big.bin._S3rver_object'));
    expect(written.length).toBe(11 * MiB);
    expect([written[0], written[5 * MiB], written[11 * MiB - 1]]).toEqual([0, 5, 10]);
    await sut.close();
  });

  it('writes to an Azure container, and to a directory, the inline content', async () => {
    const azure = setup({ provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: 'exports', prefix: '{event.type}/', fileName: 'note.txt' });
    const toAzure = await azure.sut.send(azure.request({ content: 'héllo azure' }), AbortSignal.timeout(10_000));
    expect(toAzure.verdict).toBe('delivered');
    expect(JSON.parse(toAzure.reply!)).toMatchObject({ provider: 'azure', container: 'exports', key: 'report.ready/note.txt', etag: expect.any(String) });
    expect((await azurite.container('exports').getBlobClient('report.ready/note.txt').downloadToBuffer()).toString()).toBe('héllo azure');
    await azure.sut.close();

    const local = setup({ provider: 'filesystem', directory, prefix: '{data.team}/', fileName: 'note.txt' });
    expect(await local.sut.send(local.request({ team: 'ops', content: 'héllo disk' }), AbortSignal.timeout(10_000))).toMatchObject({ verdict: 'delivered' });
    expect(await readFile(path.join(directory, 'ops', 'note.txt'), 'utf8')).toBe('héllo disk');
  });

  it('refuses, as permanent, a key a template value leads out of the directory, a missing bucket and a missing container', async () => {
    const local = setup({ provider: 'filesystem', directory, prefix: '{data.team}/' });
    expect(await local.sut.send(local.request({ team: '..' }), AbortSignal.timeout(10_000))).toMatchObject({
      verdict: 'permanent',
      error: expect.stringContaining('has a "." or ".." segment'),
    });
    const bucket = setup({ ...s3Config, endpoint: s3.endpoint, bucket: 'missing' });
    expect(await bucket.sut.send(bucket.request(), AbortSignal.timeout(10_000))).toMatchObject({
      verdict: 'permanent',
      statusCode: 404,
      reason: 'S3 NoSuchBucket (HTTP 404)',
    });
    expect(await bucket.sut.test(bucket.request(), AbortSignal.timeout(10_000))).toMatchObject({ verdict: 'permanent', statusCode: 404 });
    await bucket.sut.close();
    const container = setup({ provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: 'missing' });
    expect(await container.sut.send(container.request(), AbortSignal.timeout(10_000))).toMatchObject({ verdict: 'permanent', statusCode: 404 });
    expect(await container.sut.test(container.request(), AbortSignal.timeout(10_000))).toMatchObject({
      verdict: 'permanent',
      reason: 'Azure ContainerNotFound (HTTP 404)',
    });
    await container.sut.close();
  });

  it('tests each provider without writing, and connects only through the egress guard', async () => {
    for (const config of [
      { ...s3Config, endpoint: s3.endpoint },
      { provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: 'exports' },
      { provider: 'filesystem', directory },
    ]) {
      const { sut, request } = setup(config);
      expect(await sut.test(request(), AbortSignal.timeout(10_000))).toMatchObject({ verdict: 'delivered' });
      await sut.close();
    }
    const gone = setup({ provider: 'filesystem', directory: path.join(directory, 'gone') });
    expect(await gone.sut.test(gone.request(), AbortSignal.timeout(10_000))).toMatchObject({ verdict: 'permanent', error: expect.stringContaining('ENOENT') });
    expect(await gone.sut.send(gone.request(), AbortSignal.timeout(10_000))).toMatchObject({ verdict: 'permanent', error: expect.stringContaining('ENOENT') });
    for (const config of [
      { ...s3Config, endpoint: s3.endpoint.replace('127.0.0.1', 'localhost') },
      { provider: 'azure', endpoint: azurite.endpoint.replace('127.0.0.1', 'localhost'), ...AZURITE_ACCOUNT, container: 'exports' },
      { provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: 'exports' },
    ]) {
      const { sut, request } = setup(config, { egress: new EgressGuard([]) });
      expect(await sut.send(request(), AbortSignal.timeout(10_000))).toMatchObject({ verdict: 'transient', error: expect.stringMatching(/not (an )?allowed/) });
      await sut.close();
    }
  });
});
