import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { utils } from 'ssh2';
import { Json, sendEvent, SftpTestServer, TcpProxy, uniqueId, waitForDelivery } from '@dispatch/testing';
import { useSystem } from './system';

const PASSWORD = 'sftp-right-password';
const FAST_RETRIES = { maxAttempts: 5, schedule: [500], jitter: 0 };
const userKey = utils.generateKeyPairSync('ed25519');

/**
 * The sftp kind against an SFTP server of the test's own on loopback (the ssh2 package's),
 * serving a temporary directory: `dispatch` logs in with PASSWORD, `keyed` with a private key;
 * writes under /locked are refused.
 */
describe('sftp destinations', () => {
  const system = useSystem();
  let server: SftpTestServer;
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    server = await SftpTestServer.start({
      users: [
        { username: 'dispatch', password: PASSWORD },
        { username: 'keyed', publicKey: userKey.public },
      ],
      readOnly: ['/locked'],
    });
    mkdirSync(server.local('/locked'));
  });

  afterAll(async () => {
    await Promise.all([server?.close(), ...proxies.map((proxy) => proxy.close())]);
  });

  const config = (overrides: Record<string, unknown> = {}) => ({
    host: '127.0.0.1',
    port: server.port,
    username: 'dispatch',
    password: PASSWORD,
    hostKeySha256: server.hostKeySha256,
    directory: `/${uniqueId('in')}`,
    ...overrides,
  });

  async function createSftp(settings: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<Json> {
    const answer = await system.client.post('/v1/destinations', { name: uniqueId('sftp'), kind: 'sftp', config: settings, ...overrides });
    expect(answer.status).toBe(201);
    return answer.body;
  }

  async function deliver(destinationId: string, event: Record<string, unknown> = {}): Promise<{ eventId: string; deliveryId: string }> {
    const eventId = uniqueId('evt_sftp');
    const accepted = await sendEvent(system.client, { id: eventId, type: 'report.ready', destinations: [destinationId], ...event });
    return { eventId, deliveryId: accepted.deliveries[0].id };
  }

  it('writes the event as JSON, named by the template, into directories it creates, with the mode asked for', async () => {
    const root = `/${uniqueId('reports')}`;
    const destination = await createSftp(config({ directory: `${root}/{event.type}/{data.region}`, fileName: '{data.region}-{event.id}.json', mode: '0600' }));
    const { eventId, deliveryId } = await deliver(destination.id, { data: { region: 'eu', total: 42 } });
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    const path = `${root}/report.ready/eu/eu-${eventId}.json`;
    expect(delivered.attempts).toEqual([
      expect.objectContaining({ number: 1, outcome: 'delivered', error: null, responseBody: expect.stringMatching(new RegExp(`^wrote ${path} \\(\\d+ bytes\\)$`)) }),
    ]);
    expect(JSON.parse(readFileSync(server.local(path), 'utf8'))).toEqual({
      id: eventId,
      type: 'report.ready',
      timestamp: expect.any(String),
      data: { region: 'eu', total: 42 },
    });
    expect(statSync(server.local(path)).mode & 0o777).toBe(0o600);
  });

  it('never shows a half-written file: the name appears only by a rename of the whole file, which replaces an older one', async () => {
    const directory = `/${uniqueId('latest')}`;
    const destination = await createSftp(config({ directory, fileName: 'latest.csv' }));
    for (const content of ['a,b\n1,2\n', 'a,b\n3,4\n'])
      await waitForDelivery(system.client, (await deliver(destination.id, { data: { content } })).deliveryId, 'delivered');
    expect(readFileSync(server.local(`${directory}/latest.csv`), 'utf8')).toBe('a,b\n3,4\n');
    const touching = server.operations.filter((operation) => JSON.stringify(operation).includes(`${directory}/`));
    // Written only under hidden temporary names; the real name only ever a rename's target (or removed to be replaced).
    const written = touching.filter((operation) => operation.op === 'open-write').map((operation) => (operation as { path: string }).path);
    expect(written).toEqual([expect.stringMatching(/\/\.latest\.csv\.[0-9a-f]{12}\.part$/), expect.stringMatching(/\/\.latest\.csv\.[0-9a-f]{12}\.part$/)]);
    expect(touching.filter((operation) => operation.op === 'rename')).toEqual(written.map((from) => ({ op: 'rename', from, to: `${directory}/latest.csv` })));
  });

  it('logs in with a private key', async () => {
    const destination = await createSftp(config({ username: 'keyed', password: undefined, privateKey: userKey.private }));
    expect(destination.config.privateKey).toBe('********');
    await waitForDelivery(system.client, (await deliver(destination.id)).deliveryId, 'delivered');
  });

  it('dead-letters at once, with a clear error, a host key other than the pinned one, an unpinned one, a refused password and a refused directory', async () => {
    const otherKey = `SHA256:${'x'.repeat(43)}`;
    const cases: [Record<string, unknown>, string | RegExp][] = [
      [
        config({ hostKeySha256: otherKey }),
        `the server 127.0.0.1 showed host key ${server.hostKeySha256}, not the pinned ${otherKey}: the server's key changed, or this is not the server (hostKeySha256)`,
      ],
      [config({ hostKeySha256: undefined }), new RegExp(`^the server 127\\.0\\.0\\.1 showed host key ${escape(server.hostKeySha256)}, which is not pinned: check it`)],
      [config({ password: 'wrong-password' }), 'the server refused the credentials of user "dispatch": All configured authentication methods failed'],
      [config({ directory: '/locked/in' }), 'mkdir /locked/in: permission denied'],
      [config({ directory: '/absent', createDirectories: false }), /^write \/absent\/\.evt_sftp.*\.part: no such file or directory$/],
    ];
    for (const [settings, error] of cases) {
      const destination = await createSftp(settings, { retryPolicy: FAST_RETRIES });
      const failed = await waitForDelivery(system.client, (await deliver(destination.id)).deliveryId, 'failed');
      expect(failed.attempts).toEqual([
        expect.objectContaining({ number: 1, outcome: 'failed', error: typeof error === 'string' ? error : expect.stringMatching(error) }),
      ]);
      expect(JSON.stringify(failed)).not.toContain('wrong-password');
    }
  });

  it('trusts the first host key it sees when told to, and says which', async () => {
    const destination = await createSftp(config({ hostKeySha256: undefined, trustOnFirstUse: true }));
    const delivered = await waitForDelivery(system.client, (await deliver(destination.id)).deliveryId, 'delivered');
    expect(delivered.attempts[0].responseBody).toContain(`host key ${server.hostKeySha256} trusted on first use: pin it as hostKeySha256`);
  });

  it('records a retry while the server is down and delivers once it is back', async () => {
    const proxy = await TcpProxy.start(server.port);
    proxies.push(proxy);
    const destination = await createSftp(config({ port: proxy.port }), { retryPolicy: FAST_RETRIES });
    // A first delivery leaves the destination holding a connection, which the outage breaks.
    await waitForDelivery(system.client, (await deliver(destination.id)).deliveryId, 'delivered');
    proxy.cut();
    const { eventId, deliveryId } = await deliver(destination.id);
    const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
    expect(retrying.attempts[0]).toMatchObject({ number: 1, outcome: 'retry', error: expect.stringMatching(/^connection error/) });
    proxy.restore();
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts.at(-1)).toMatchObject({ outcome: 'delivered', responseBody: expect.stringContaining(`${eventId}.json`) });
  });

  it('shows its credentials as "********" after creation, and keeps them when a change sends that back', async () => {
    const created = await createSftp(config());
    expect(created.config).toMatchObject({ username: 'dispatch', password: '********' });
    const shown = (await system.client.get(`/v1/destinations/${created.id}`)).body;
    const patched = await system.client.request('PATCH', `/v1/destinations/${created.id}`, { config: { ...shown.config, mode: '0644' } });
    expect(patched.status).toBe(200);
    expect(JSON.stringify([created, shown, patched.body])).not.toContain(PASSWORD);
    await waitForDelivery(system.client, (await deliver(created.id)).deliveryId, 'delivered');
  });

  it('tests a destination by connecting, checking the host key and the login and looking at the directory, writing nothing', async () => {
    const test = async (settings: Record<string, unknown>) => (await system.client.post(`/v1/destinations/${(await createSftp(settings)).id}/test`)).body;
    const before = server.operations.length;
    expect(await test(config({ directory: '/locked' }))).toMatchObject({ ok: true });
    expect(await test(config({ directory: '/not/yet' }))).toMatchObject({ ok: true });
    expect(await test(config({ directory: '/not/yet', createDirectories: false }))).toMatchObject({
      ok: false,
      error: 'directory /not/yet does not exist (and createDirectories is false)',
    });
    expect(await test(config({ password: 'wrong-password' }))).toMatchObject({ ok: false, error: expect.stringContaining('refused the credentials') });
    expect(await test(config({ hostKeySha256: undefined }))).toMatchObject({
      ok: false,
      error: expect.stringContaining(`showed host key ${server.hostKeySha256}, which is not pinned`),
    });
    expect(server.operations.length).toBe(before);
  });

  it('refuses a config that cannot work, naming each field', async () => {
    const answer = await system.client.post('/v1/destinations', {
      name: 'bad',
      kind: 'sftp',
      config: { host: '127.0.0.1', username: 'u', directory: '/in/../etc', hostKeySha256: 'MD5:aa:bb', privateKey: 'not a key' },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.details.map((detail: Json) => detail.path).sort()).toEqual(['config.directory', 'config.hostKeySha256', 'config.privateKey']);
    expect(JSON.stringify(answer.body)).not.toContain('not a key');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
