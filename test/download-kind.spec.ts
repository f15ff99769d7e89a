import { existsSync } from 'node:fs';
import path from 'node:path';
import { createDatabase, Database } from '@dispatch/db';
import { eventually, Json, sendEvent, uniqueId, uploadFile, waitForDelivery } from '@dispatch/testing';
import { useSystem } from './system';

const PUBLIC_URL = 'https://files.dispatch.test';

describe('the download kind', () => {
  const system = useSystem({ env: { DISPATCH_PUBLIC_URL: PUBLIC_URL, DISPATCH_RETENTION_DAYS: '30', DISPATCH_RETENTION_SWEEP_MS: '500' } });
  let database: Database;

  beforeAll(() => {
    database = createDatabase(system.config.databaseUrl, { max: 2 });
  });

  afterAll(async () => {
    await database.close();
  });

  async function destination(config: Record<string, unknown> = {}): Promise<string> {
    const created = await system.client.post('/v1/destinations', { name: uniqueId('download'), kind: 'download', config, eventTypes: ['nobody.*'] });
    expect(created.status).toBe(201);
    return created.body.id;
  }

  /** Delivers an event to a download destination; answers the delivery as the API shows it. */
  async function deliver(config: Record<string, unknown> = {}, data: unknown = { total: 3 }): Promise<{ delivery: Json; eventId: string }> {
    const eventId = uniqueId('evt_download');
    const sent = await sendEvent(system.client, { id: eventId, type: 'report.ready', data, destinations: [await destination(config)] });
    await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
    return { delivery: (await system.client.get(`/v1/deliveries/${sent.deliveries[0].id}`)).body, eventId };
  }

  /** Fetches a link from this test's API (the public URL names no real host). */
  const open = (url: string, headers: Record<string, string> = {}) => fetch(`${system.url}${new URL(url).pathname}`, { headers });

  it('stores the event as a file and answers a signed link to it, in the attempt and the delivery; the link serves it without an API key', async () => {
    const { delivery, eventId } = await deliver();
    expect(delivery.download).toEqual({
      url: expect.stringMatching(/^https:\/\/files\.dispatch\.test\/d\/dl_[0-9a-z]+\.[\w-]{43}$/),
      expiresAt: expect.any(String),
      maxDownloads: null,
      downloads: 0,
      expired: false,
    });
    const expiresIn = Date.parse(delivery.download.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(604_800_000 - 60_000);
    expect(expiresIn).toBeLessThanOrEqual(604_800_000);
    const reply = JSON.parse(delivery.attempts[0].responseBody);
    expect(reply).toMatchObject({ url: delivery.download.url, maxDownloads: null, name: `${eventId}.json` });

    const downloaded = await open(delivery.download.url, { 'user-agent': 'report-fetcher/1.0' });
    expect(downloaded.status).toBe(200);
    expect(downloaded.headers.get('content-type')).toBe('application/json');
    expect(downloaded.headers.get('content-disposition')).toBe(`attachment; filename="${eventId}.json"; filename*=UTF-8''${eventId}.json`);
    expect(downloaded.headers.get('accept-ranges')).toBe('bytes');
    const body = await downloaded.text();
    expect(JSON.parse(body)).toEqual({ id: eventId, type: 'report.ready', timestamp: expect.any(String), data: { total: 3 } });
    expect(reply.size).toBe(Buffer.byteLength(body));

    // Every download is logged.
    const log = await system.client.as(system.organization.viewerKey).get(`/v1/deliveries/${delivery.id}/downloads`);
    expect(log.status).toBe(200);
    expect(log.body).toEqual({ data: [{ at: expect.any(String), ip: '127.0.0.1', userAgent: 'report-fetcher/1.0' }] });
    expect((await system.client.get(`/v1/deliveries/${delivery.id}`)).body.download.downloads).toBe(1);
  });

  it('serves an uploaded file (data.fileId) under the name the config gives, with ranges', async () => {
    const content = Buffer.from('id,total\n1,10\n2,20\n');
    const file = await uploadFile(system.client, content);
    const { delivery } = await deliver({ fileName: '{data.report}.csv' }, { fileId: file.id, report: 'daily' });
    const whole = await open(delivery.download.url);
    expect(whole.headers.get('content-type')).toBe('application/octet-stream');
    expect(whole.headers.get('content-disposition')).toContain('filename="daily.csv"');
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(content);

    const part = await open(delivery.download.url, { range: 'bytes=3-7' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 3-7/${content.length}`);
    expect(part.headers.get('content-length')).toBe('5');
    expect(await part.text()).toBe(content.subarray(3, 8).toString());
    const tail = await open(delivery.download.url, { range: 'bytes=-3' });
    expect(await tail.text()).toBe('20\n');

    const outside = await open(delivery.download.url, { range: `bytes=${content.length}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${content.length}`);
  });

  it('answers 404 for a token it did not sign, changed in its signature or its link id', async () => {
    const { delivery } = await deliver();
    const url: string = delivery.download.url;
    const [linkId, signature] = url.split('/d/')[1].split('.');
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    for (const token of [`${linkId}.${flipped}`, `${linkId.slice(0, -1)}${linkId.endsWith('a') ? 'b' : 'a'}.${signature}`, linkId, 'nothing']) {
      const answer = await fetch(`${system.url}/d/${token}`);
      expect(answer.status).toBe(404);
    }
    expect((await open(url)).status).toBe(200);
  });

  it('serves maxDownloads downloads, then 410, also when they come at once', async () => {
    const { delivery } = await deliver({ maxDownloads: 2 });
    expect((await open(delivery.download.url)).status).toBe(200);
    expect((await open(delivery.download.url)).status).toBe(200);
    // Asking about the file (HEAD) downloads nothing.
    const head = await fetch(`${system.url}${new URL(delivery.download.url).pathname}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(JSON.parse(delivery.attempts[0].responseBody).size));
    const third = await open(delivery.download.url);
    expect(third.status).toBe(410);
    expect((await third.json()).message).toContain('served all its downloads');

    const { delivery: raced } = await deliver({ maxDownloads: 3 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => open(raced.download.url)));
    await Promise.all(answers.map((answer) => answer.arrayBuffer()));
    expect(answers.map((answer) => answer.status).sort()).toEqual([...Array(3).fill(200), ...Array(17).fill(410)]);
    expect((await system.client.get(`/v1/deliveries/${raced.id}/downloads`)).body.data).toHaveLength(3);
  });

  it('answers 410 once the link expires, and the maintenance queue removes its file', async () => {
    const { delivery } = await deliver({ expiresInSeconds: 60 });
    const [link] = await database.sql<{ id: string; file_id: string }>('SELECT id, file_id FROM download_links WHERE delivery_id = $1', [delivery.id]);
    const stored = path.join(system.config.files.directory, link.file_id);
    expect(existsSync(stored)).toBe(true);
    expect((await open(delivery.download.url)).status).toBe(200);

    await database.sql(`UPDATE download_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [link.id]);
    const expired = await open(delivery.download.url);
    expect(expired.status).toBe(410);
    expect((await expired.json()).message).toBe('This download link has expired');
    await eventually(async () => (existsSync(stored) ? undefined : true), 10_000, 'the expired file to be removed');
    expect((await system.client.get(`/v1/deliveries/${delivery.id}`)).body.download).toMatchObject({ expired: true, downloads: 1 });
    // The log outlives the file.
    expect((await system.client.get(`/v1/deliveries/${delivery.id}/downloads`)).body.data).toHaveLength(1);
  });

  it('forgets, by retention, a link that expired before the period, with its log', async () => {
    const { delivery } = await deliver();
    expect((await open(delivery.download.url)).status).toBe(200);
    const [link] = await database.sql<{ id: string; file_id: string }>('SELECT id, file_id FROM download_links WHERE delivery_id = $1', [delivery.id]);
    await database.sql(`UPDATE download_links SET expires_at = now() - interval '31 days' WHERE id = $1`, [link.id]);
    await eventually(
      async () => ((await database.sql('SELECT id FROM download_links WHERE id = $1', [link.id])).length === 0 ? true : undefined),
      10_000,
      'the link to be removed',
    );
    expect(await database.sql('SELECT id FROM downloads WHERE link_id = $1', [link.id])).toEqual([]);
    // Its file goes right after its row.
    const stored = path.join(system.config.files.directory, link.file_id);
    await eventually(async () => (existsSync(stored) ? undefined : true), 5_000, "the link's file to be removed");
    expect((await open(delivery.download.url)).status).toBe(410);
    expect((await system.client.get(`/v1/deliveries/${delivery.id}/downloads`)).body.data).toEqual([]);
  });

  it('tests a destination by writing a file to the store and removing it', async () => {
    const tested = await system.client.post(`/v1/destinations/${await destination()}/test`);
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({ ok: true });
  });

  it('refuses a config outside its bounds, naming each field', async () => {
    const refused = await system.client.post('/v1/destinations', { name: uniqueId('download'), kind: 'download', config: { expiresInSeconds: 5, maxDownloads: 0 } });
    expect(refused.status).toBe(400);
    expect(refused.body.details.map((detail: Json) => detail.path).sort()).toEqual(['config.expiresInSeconds', 'config.maxDownloads']);
  });
});
