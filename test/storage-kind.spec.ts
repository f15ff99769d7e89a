import { mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { EgressGuard } from '@dispatch/destinations';
import { AZURITE_ACCOUNT, Json, S3RVER_KEY, sendEvent, startAzurite, startS3rver, TcpProxy, uniqueId, waitForDelivery } from '@dispatch/testing';
import { S3Objects } from '../libs/destinations/src/storage/s3-objects';
import { useSystem } from './system';

const MiB = 1024 * 1024;
const BUCKET = 'exports';

describe('storage destinations', () => {
  // Filesystem destinations may write only under the directories the operator lists; S3 uploads go in 5 MiB parts.
  const root = path.join(os.tmpdir(), uniqueId('dispatch-storage-kind'));
  const system = useSystem({ env: { DISPATCH_WEBHOOK_TIMEOUT_MS: '5000', DISPATCH_STORAGE_DIRECTORIES: root, DISPATCH_STORAGE_PART_BYTES: String(5 * MiB) } });
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let azurite: Awaited<ReturnType<typeof startAzurite>>;
  let objects: S3Objects;
  let directory: string;
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    await mkdir(root, { recursive: true });
    directory = await mkdtemp(path.join(root, 'files-'));
    s3 = await startS3rver([BUCKET]);
    azurite = await startAzurite([BUCKET]);
    objects = new S3Objects(
      { endpoint: s3.endpoint, region: 'us-east-1', bucket: BUCKET, forcePathStyle: true, ...S3RVER_KEY },
      { egress: new EgressGuard(['127.0.0.0/8']) },
    );
  });

  afterAll(async () => {
    objects?.close();
    await Promise.all([s3?.close(), azurite?.close(), ...proxies.map((proxy) => proxy.close()), rm(root, { recursive: true, force: true })]);
  });

  const s3Config = (overrides: Record<string, unknown> = {}) => ({
    provider: 's3',
    endpoint: s3.endpoint,
    region: 'us-east-1',
    bucket: BUCKET,
    forcePathStyle: true,
    prefix: 'exports/{organization}/',
    ...S3RVER_KEY,
    ...overrides,
  });

  async function create(config: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
    return system.client.post('/v1/destinations', { name: uniqueId('storage'), kind: 'storage', config, eventTypes: [`${uniqueId('storage')}.*`], ...overrides });
  }

  async function deliver(destinationId: string, data: unknown = { total: 3 }): Promise<{ eventId: string; deliveryId: string }> {
    const eventId = uniqueId('evt_storage');
    const accepted = await sendEvent(system.client, { id: eventId, type: 'report.ready', destinations: [destinationId], data });
    return { eventId, deliveryId: accepted.deliveries[0].id };
  }

  it('writes the event as JSON to an S3 bucket at prefix + file name, and the attempt records the key and ETag', async () => {
    const destination = (await create(s3Config())).body;
    const { eventId, deliveryId } = await deliver(destination.id);
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    const key = `exports/${system.organization.organizationId}/${eventId}.json`;
    expect(JSON.parse(await text(await objects.get(key)))).toEqual({ id: eventId, type: 'report.ready', timestamp: expect.any(String), data: { total: 3 } });
    expect(JSON.parse(delivered.attempts[0].responseBody)).toEqual({ provider: 's3', bucket: BUCKET, key, etag: expect.any(String) });
  });

  it('writes inline content to an Azure container and to a directory, named by the fileName template', async () => {
    const azure = (
      await create({ provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: BUCKET, prefix: '{data.team}/', fileName: '{data.name}.txt' })
    ).body;
    const local = (await create({ provider: 'filesystem', directory, prefix: '{data.team}/', fileName: '{data.name}.txt' })).body;
    const data = { team: 'ops', name: 'summary', content: 'héllo' };
    await waitForDelivery(system.client, (await deliver(azure.id, data)).deliveryId, 'delivered');
    await waitForDelivery(system.client, (await deliver(local.id, data)).deliveryId, 'delivered');
    expect((await azurite.container(BUCKET).getBlobClient('ops/summary.txt').downloadToBuffer()).toString('utf8')).toBe('héllo');
    expect(await readFile(path.join(directory, 'ops', 'summary.txt'), 'utf8')).toBe('héllo');
    expect(await readdir(path.join(directory, 'ops'))).toEqual(['summary.txt']);
  });

  it('sends an uploaded file bigger than a part as a multipart upload', async () => {
    const content = Buffer.alloc(12 * MiB);
    for (let at = 0; at < content.length; at += MiB) content[at] = at / MiB;
    const uploaded = await fetch(`${system.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${system.organization.adminKey}`, 'content-type': 'application/octet-stream' },
      body: content,
    });
    expect(uploaded.status).toBe(201);
    const file = (await uploaded.json()) as Json;
    const destination = (await create(s3Config({ prefix: 'big/', fileName: 'data.bin' }))).body;
    await waitForDelivery(system.client, (await deliver(destination.id, { fileId: file.id })).deliveryId, 'delivered', 30_000);
    // s3rver keeps a multipart upload's parts apart until it is completed; the whole object is what it gives back.
    const stored = Buffer.concat(await (await objects.get('big/data.bin')).toArray());
    expect(stored.equals(content)).toBe(true);
  });

  it('records a retry while S3 is unreachable and delivers once it is back', async () => {
    const proxy = await TcpProxy.start(s3.port);
    proxies.push(proxy);
    const destination = (
      await create(s3Config({ endpoint: `http://127.0.0.1:${proxy.port}`, prefix: 'outage/' }), { retryPolicy: { maxAttempts: 5, schedule: [500], jitter: 0 } })
    ).body;
    proxy.cut();
    const { eventId, deliveryId } = await deliver(destination.id);
    const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
    expect(retrying.attempts[0]).toMatchObject({ number: 1, outcome: 'retry', error: expect.stringMatching(/socket hang up|ECONNRESET|ECONNREFUSED|timeout/i) });
    proxy.restore();
    await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(await objects.head(`outage/${eventId}.json`)).toBeGreaterThan(0);
  });

  it('fails at once, with a clear error, for a missing bucket or container and for a key that leaves its directory', async () => {
    const bucket = (await create(s3Config({ bucket: 'missing-bucket' }))).body;
    const failed = await waitForDelivery(system.client, (await deliver(bucket.id)).deliveryId, 'failed');
    expect(failed.attempts).toEqual([
      expect.objectContaining({ number: 1, outcome: 'failed', statusCode: 404, error: expect.stringContaining('S3 NoSuchBucket (HTTP 404)') }),
    ]);

    const container = (await create({ provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: 'missing-container' })).body;
    const noContainer = await waitForDelivery(system.client, (await deliver(container.id)).deliveryId, 'failed');
    expect(noContainer.attempts[0]).toMatchObject({ outcome: 'failed', statusCode: 404, error: expect.stringContaining('ContainerNotFound') });

    const outside = await mkdtemp(path.join(os.tmpdir(), 'dispatch-outside-'));
    try {
      await symlink(outside, path.join(directory, 'link'));
      const local = (await create({ provider: 'filesystem', directory, prefix: '{data.folder}/' })).body;
      for (const folder of ['..', 'link']) {
        const escaped = await waitForDelivery(system.client, (await deliver(local.id, { folder })).deliveryId, 'failed');
        expect(escaped.attempts[0]).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/"\." or "\.\." segment|leads out of the destination's directory/) });
      }
      expect(await readdir(outside)).toEqual([]);
      expect(await readdir(root)).toEqual([path.basename(directory)]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('refuses a directory outside DISPATCH_STORAGE_DIRECTORIES and a prefix with "..", naming the field', async () => {
    const refused = await create({ provider: 'filesystem', directory: '/etc', prefix: 'a/../../' });
    expect(refused.status).toBe(400);
    expect(refused.body.details.map((detail: Json) => detail.path).sort()).toEqual(['config.directory', 'config.prefix']);
    expect(refused.body.details.find((detail: Json) => detail.path === 'config.directory').message).toContain('DISPATCH_STORAGE_DIRECTORIES');
  });

  it('masks the secret key and the account key after creation', async () => {
    const secretAccessKey = uniqueId('s3-secret');
    const s3Destination = await create(s3Config({ secretAccessKey }));
    const azure = await create({ provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: BUCKET });
    for (const answer of [
      s3Destination,
      azure,
      await system.client.get(`/v1/destinations/${s3Destination.body.id}`),
      await system.client.get(`/v1/destinations/${azure.body.id}`),
    ]) {
      expect(JSON.stringify(answer.body)).not.toContain(secretAccessKey);
      expect(JSON.stringify(answer.body)).not.toContain(AZURITE_ACCOUNT.accountKey);
    }
    expect(s3Destination.body.config.secretAccessKey).toBe('********');
    expect(azure.body.config.accountKey).toBe('********');
  });

  it('POST /test checks the bucket, the container and the directory without writing anything', async () => {
    const before = (await objects.client.send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: BUCKET }))).KeyCount;
    const check = async (config: Record<string, unknown>) => (await system.client.post(`/v1/destinations/${(await create(config)).body.id}/test`)).body;
    expect(await check(s3Config())).toMatchObject({ ok: true });
    expect(await check({ provider: 'azure', endpoint: azurite.endpoint, ...AZURITE_ACCOUNT, container: BUCKET })).toMatchObject({ ok: true });
    expect(await check({ provider: 'filesystem', directory })).toMatchObject({ ok: true });
    expect(await check(s3Config({ bucket: 'missing-bucket' }))).toMatchObject({ ok: false });
    expect(await check({ provider: 'filesystem', directory: path.join(root, 'gone') })).toMatchObject({ ok: false, error: expect.stringContaining('ENOENT') });
    expect((await objects.client.send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: BUCKET }))).KeyCount).toBe(before);
  });
});
