import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createDatabase, Database } from '@dispatch/db';
import { S3FileStore } from '@dispatch/destinations';
import { createTestOrganization, createWebhook, eventually, S3RVER_KEY, sendEvent, startS3rver, uniqueId, uploadFile, waitForDelivery } from '@dispatch/testing';
import { startSystem, TestSystem, useReceiver, useSystem } from './system';

const MAX_BYTES = 1024 * 1024;
const DAY_MS = 86_400_000;

describe('uploaded files (POST /v1/files)', () => {
  const system = useSystem({
    env: { DISPATCH_FILES_MAX_BYTES: String(MAX_BYTES), DISPATCH_RETENTION_DAYS: '30', DISPATCH_RETENTION_BATCH: '2', DISPATCH_RETENTION_SWEEP_MS: '500' },
  });
  const receiver = useReceiver();
  let database: Database;

  beforeAll(() => {
    database = createDatabase(system.config.databaseUrl, { max: 2 });
  });

  afterAll(async () => {
    await database.close();
  });

  const stored = (id: string) => path.join(system.config.files.directory, id);
  const upload = (content: Buffer, key: string, headers: Record<string, string> = { 'content-type': 'application/octet-stream' }) =>
    system.client.as(key).request('POST', '/v1/files', content, headers);

  it('keeps the raw body as a file of the organization: 201 with its id, size and SHA-256, for producer and admin keys only', async () => {
    const content = randomBytes(300_000);
    const answer = await upload(content, system.organization.producerKey);
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ id: expect.stringMatching(/^fil_[0-9a-z]+$/), size: 300_000, sha256: createHash('sha256').update(content).digest('hex') });
    expect(existsSync(stored(answer.body.id))).toBe(true);
    expect((await upload(content, system.organization.adminKey)).status).toBe(201);

    const asViewer = await upload(content, system.organization.viewerKey);
    expect(asViewer.status).toBe(403);
    expect((await system.client.as(undefined).request('POST', '/v1/files', content, { 'content-type': 'application/octet-stream' })).status).toBe(401);
    const asJson = await system.client.post('/v1/files', { content: 'x' });
    expect(asJson.status).toBe(400);
    expect(asJson.body.message).toContain('application/octet-stream');
    // Only this route takes a raw body: elsewhere it is not read.
    const elsewhere = await system.client.request('POST', '/v1/events', Buffer.from('{"type":"a.b","data":{}}'), { 'content-type': 'application/octet-stream' });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.message).toContain('application/json');
  });

  it('refuses a file larger than DISPATCH_FILES_MAX_BYTES with 413, keeping nothing of it, whether its size is declared or streamed', async () => {
    const before = readdirSync(system.config.files.directory);
    const declared = await upload(randomBytes(MAX_BYTES + 1), system.organization.producerKey);
    expect(declared.status).toBe(413);
    expect(declared.body.message).toBe(`The file is larger than DISPATCH_FILES_MAX_BYTES (${MAX_BYTES} bytes); nothing of it was kept`);

    // No Content-Length: the size is found out while the body streams in.
    const chunk = randomBytes(64 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 2 * MAX_BYTES) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const streamed = await fetch(`${system.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${system.organization.producerKey}`, 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(readdirSync(system.config.files.directory)).toEqual(before);
    const rows = await database.sql<{ size: string }>('SELECT size FROM files WHERE size > $1', [MAX_BYTES]);
    expect(rows).toEqual([]);
  });

  it("refuses an event whose data.fileId names no file of its organization (another organization's file included), writing nothing", async () => {
    const own = await uploadFile(system.client, 'a,b\n1,2\n');
    const other = await createTestOrganization(system.config.databaseUrl);
    const foreign = await uploadFile(system.client.as(other.producerKey), 'theirs');

    const accepted = await system.client.post('/v1/events', { id: 'evt_with_file', type: 'report.ready', data: { fileId: own.id } });
    expect(accepted.status).toBe(202);
    const refused = await system.client.post('/v1/events', { id: 'evt_foreign_file', type: 'report.ready', data: { fileId: foreign.id } });
    expect(refused.status).toBe(400);
    expect(refused.body.details).toEqual([{ path: 'data.fileId', message: `unknown file "${foreign.id}": upload it first (POST /v1/files)` }]);

    const batch = await system.client.post('/v1/events/batch', {
      events: [
        { id: 'evt_batch_ok', type: 'report.ready', data: { fileId: own.id } },
        { id: 'evt_batch_missing', type: 'report.ready', data: { fileId: 'fil_never' } },
      ],
    });
    expect(batch.status).toBe(400);
    expect(batch.body.details.map((detail: { path: string }) => detail.path)).toEqual(['events.1.data.fileId']);
    for (const id of ['evt_foreign_file', 'evt_batch_ok', 'evt_batch_missing']) expect((await system.client.get(`/v1/events/${id}`)).status).toBe(404);
  });

  it('removes by retention the files older than the period that no kept event names: row and bytes', async () => {
    const webhook = await createWebhook(system.client, `${receiver.url}/hook`);
    const keptByEvent = await uploadFile(system.client, 'named by a recent event');
    const unnamed = await uploadFile(system.client, 'named by no event');
    const namedByOldEvent = await uploadFile(system.client, 'named by an event retention removes');
    const recent = await sendEvent(system.client, { id: 'evt_recent_file', type: 'report.ready', data: { fileId: keptByEvent.id }, destinations: [webhook.id] });
    const old = await sendEvent(system.client, { id: 'evt_old_file', type: 'report.ready', data: { fileId: namedByOldEvent.id }, destinations: [webhook.id] });
    const recentFresh = await uploadFile(system.client, 'uploaded just now, named by nothing');
    await waitForDelivery(system.client, recent.deliveries[0].id, 'delivered');
    await waitForDelivery(system.client, old.deliveries[0].id, 'delivered');

    const longAgo = new Date(Date.now() - 31 * DAY_MS).toISOString();
    await database.sql('UPDATE files SET created_at = $2 WHERE id = ANY($1)', [[keptByEvent.id, unnamed.id, namedByOldEvent.id], longAgo]);
    await database.sql('UPDATE events SET received_at = $2 WHERE id = $1', ['evt_old_file', longAgo]);
    await database.sql('UPDATE deliveries SET created_at = $2, updated_at = $2 WHERE event_id = $1', ['evt_old_file', longAgo]);

    await eventually(async () => (existsSync(stored(namedByOldEvent.id)) ? undefined : true), 15_000, 'the file of the removed event to be removed');
    expect(existsSync(stored(unnamed.id))).toBe(false);
    expect(existsSync(stored(keptByEvent.id))).toBe(true);
    expect(existsSync(stored(recentFresh.id))).toBe(true);
    const left = await database.sql<{ id: string }>('SELECT id FROM files WHERE id = ANY($1) ORDER BY id', [
      [keptByEvent.id, unnamed.id, namedByOldEvent.id, recentFresh.id],
    ]);
    expect(left.map((row) => row.id)).toEqual([keptByEvent.id, recentFresh.id].sort());
    expect((await system.client.get('/v1/events/evt_old_file')).status).toBe(404);
  }, 30_000);
});

describe('uploaded files in an S3 bucket (DISPATCH_FILES_S3_BUCKET)', () => {
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let system: TestSystem;
  /** The bucket, read on its own. */
  let bucket: S3FileStore;

  beforeAll(async () => {
    s3 = await startS3rver(['dispatch-files']);
    system = await startSystem({
      env: {
        DISPATCH_FILES_S3_BUCKET: 'dispatch-files',
        DISPATCH_FILES_S3_ENDPOINT: s3.endpoint,
        DISPATCH_FILES_S3_FORCE_PATH_STYLE: 'true',
        DISPATCH_FILES_S3_ACCESS_KEY_ID: S3RVER_KEY.accessKeyId,
        DISPATCH_FILES_S3_SECRET_ACCESS_KEY: S3RVER_KEY.secretAccessKey,
        DISPATCH_FILES_S3_PREFIX: 'uploads/',
      },
    });
    bucket = new S3FileStore({ endpoint: s3.endpoint, region: 'us-east-1', bucket: 'dispatch-files', forcePathStyle: true, ...S3RVER_KEY }, 'uploads/');
  }, 60_000);

  afterAll(async () => {
    bucket?.close();
    await system?.close();
    await s3?.close();
  }, 60_000);

  it('keeps an upload as an object of the bucket, which the worker delivers from (a download link serving it)', async () => {
    const content = randomBytes(200_000);
    const file = await uploadFile(system.client, content);
    expect(await bucket.size(file.id)).toBe(200_000);
    expect(readdirSync(system.config.files.directory)).toEqual([]);

    const destination = await system.client.post('/v1/destinations', { name: uniqueId('download'), kind: 'download', config: {}, eventTypes: ['nobody.*'] });
    const sent = await sendEvent(system.client, { type: 'report.ready', data: { fileId: file.id }, destinations: [destination.body.id] });
    await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
    const url: string = (await system.client.get(`/v1/deliveries/${sent.deliveries[0].id}`)).body.download.url;
    const downloaded = await fetch(`${system.url}${new URL(url).pathname}`);
    expect(Buffer.from(await downloaded.arrayBuffer())).toEqual(content);
  });
});
