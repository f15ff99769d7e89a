import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { utils } from 'ssh2';
import { retryPolicySchema } from '@dispatch/domain';
import { emptyFileStore, SftpTestServer, TcpProxy } from '@dispatch/testing';
import { EgressGuard } from '../egress';
import type { FileStore } from '../files/file-store';
import type { SendRequest } from '../kind';
import { SftpConfig, sftpConfigSchema } from './config';
import { SftpSender } from './send';

const USER = { username: 'dispatch', password: 'sftp-pw-1' };
const keys = utils.generateKeyPairSync('ed25519');

let server: SftpTestServer;

beforeAll(async () => {
  server = await SftpTestServer.start({ users: [USER, { username: 'keyed', publicKey: keys.public }], readOnly: ['/locked'] });
  mkdirSync(server.local('/locked'));
});

afterAll(() => server.close());

function setup(config: Record<string, unknown> = {}) {
  const sut = new SftpSender({ timeoutMs: 5_000, replyMaxBytes: 4_096, egress: new EgressGuard(['127.0.0.0/8']), files: emptyFileStore() });
  let attempt = 0;
  const request = (data: unknown = { total: 1 }, destinationId = 'dst_sftp'): SendRequest<SftpConfig> => ({
    destinationId,
    organizationId: 'org_1',
    config: sftpConfigSchema.parse({ host: '127.0.0.1', port: server.port, ...USER, hostKeySha256: server.hostKeySha256, directory: '/in', ...config }),
    secrets: [],
    retryPolicy: retryPolicySchema.parse({}),
    deliveryId: `dlv_${++attempt}`,
    attemptNumber: 1,
    event: { id: `evt_${attempt}_${Math.random().toString(36).slice(2)}`, type: 'report.ready', data, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  });
  return { sut, request, signal: () => AbortSignal.timeout(5_000) };
}

describe('the sftp sender', () => {
  it('writes the event as JSON under a temporary name, gives it the mode, then renames it', async () => {
    const { sut, request, signal } = setup({ directory: '/in/{event.type}', mode: '0604' });
    const sent = request({ total: 3 });
    const result = await sut.send(sent, signal());
    expect(result).toMatchObject({
      verdict: 'delivered',
      reply: `wrote /in/report.ready/${sent.event.id}.json (${readFileSync(server.local(`/in/report.ready/${sent.event.id}.json`)).length} bytes)`,
    });
    const file = server.local(`/in/report.ready/${sent.event.id}.json`);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ id: sent.event.id, type: 'report.ready', timestamp: '2026-01-02T03:04:05.000Z', data: { total: 3 } });
    expect(statSync(file).mode & 0o777).toBe(0o604);
    const mine = server.operations.filter((operation) => JSON.stringify(operation).includes(sent.event.id));
    const partial = mine[0];
    expect(partial).toEqual({ op: 'open-write', path: expect.stringMatching(new RegExp(`^/in/report\\.ready/\\.${sent.event.id}\\.json\\.[0-9a-f]{12}\\.part$`)) });
    // The file shows under its name once, whole and with its mode: by the rename, after the mode was set.
    expect(mine.at(-1)).toEqual({ op: 'rename', from: (partial as { path: string }).path, to: `/in/report.ready/${sent.event.id}.json` });
    expect(mine.at(-2)).toEqual({ op: 'setstat', path: (partial as { path: string }).path, mode: 0o604 });
    await sut.close();
  });

  it('replaces a file of the same name (removed, then renamed over: the server has no posix-rename)', async () => {
    const { sut, request, signal } = setup({ fileName: 'latest.txt' });
    expect((await sut.send(request({ content: 'one' }), signal())).verdict).toBe('delivered');
    expect((await sut.send(request({ content: 'two' }), signal())).verdict).toBe('delivered');
    expect(readFileSync(server.local('/in/latest.txt'), 'utf8')).toBe('two');
    await sut.close();
  });

  it('delivers attempts of one destination made at the same time over its one connection', async () => {
    const { sut, request, signal } = setup({ directory: '/together' });
    const requests = Array.from({ length: 12 }, () => request());
    const results = await Promise.all(requests.map((one) => sut.send(one, signal())));
    expect(results.map((result) => result.verdict)).toEqual(requests.map(() => 'delivered'));
    for (const one of requests) expect(JSON.parse(readFileSync(server.local(`/together/${one.event.id}.json`), 'utf8')).id).toBe(one.event.id);
    await sut.close();
  });

  it('streams an uploaded file from the file store, reading it no faster than the server takes it', async () => {
    const size = 48 * 1024 * 1024;
    const chunk = randomBytes(256 * 1024);
    const hash = createHash('sha256');
    let produced = 0;
    let furthestAhead = 0;
    const content = new Readable({
      read() {
        furthestAhead = Math.max(furthestAhead, produced - server.bytesWritten);
        if (produced === size) return this.push(null);
        hash.update(chunk);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const files: FileStore = { size: async () => size, open: async () => content, put: jest.fn(), remove: jest.fn() };
    const sut = new SftpSender({ timeoutMs: 60_000, replyMaxBytes: 4_096, egress: new EgressGuard(['127.0.0.0/8']), files });
    const { request } = setup({ fileName: 'big.bin', directory: '/big' });
    const result = await sut.send(request({ fileId: 'fil_big' }), AbortSignal.timeout(60_000));
    expect(result).toMatchObject({ verdict: 'delivered', reply: `wrote /big/big.bin (${size} bytes)` });
    expect(
      createHash('sha256')
        .update(readFileSync(server.local('/big/big.bin')))
        .digest('hex'),
    ).toBe(hash.digest('hex'));
    // Read ahead of what the server has written by a few buffers at most, never the whole file.
    expect(furthestAhead).toBeLessThan(8 * 1024 * 1024);
    await sut.close();
  });

  it('authenticates with a private key', async () => {
    const { sut, request, signal } = setup({ username: 'keyed', password: undefined, privateKey: keys.private, directory: '/keyed' });
    expect(await sut.send(request(), signal())).toMatchObject({ verdict: 'delivered' });
    await sut.close();
  });

  it('fails for good on a missing directory without createDirectories, a denied write and a refused password, keeping secrets out', async () => {
    const { sut, request, signal } = setup();
    const missing = await sut.send({ ...request(), config: sftpConfigSchema.parse({ ...request().config, directory: '/absent', createDirectories: false }) }, signal());
    expect(missing).toMatchObject({ verdict: 'permanent', statusCode: 2, error: expect.stringMatching(/^write \/absent\/\..*\.part: no such file or directory$/) });
    const denied = await sut.send({ ...request(), config: { ...request().config, directory: '/locked' } }, signal());
    expect(denied).toMatchObject({ verdict: 'permanent', statusCode: 3, error: expect.stringMatching(/^write \/locked\/.*: permission denied$/) });
    const refused = await sut.send({ ...request(), config: { ...request().config, password: 'wrong-pw-9' } }, signal());
    expect(refused).toEqual({
      verdict: 'permanent',
      error: 'the server refused the credentials of user "dispatch": All configured authentication methods failed',
      durationMs: expect.any(Number),
    });
    await sut.close();
  });

  it('refuses a host key other than the pinned one, and an unpinned one unless it trusts the first it sees', async () => {
    const { sut, request, signal } = setup();
    const other = `SHA256:${'A'.repeat(43)}`;
    const wrong = await sut.send({ ...request(), config: { ...request().config, hostKeySha256: other } }, signal());
    expect(wrong).toMatchObject({
      verdict: 'permanent',
      error: `the server 127.0.0.1 showed host key ${server.hostKeySha256}, not the pinned ${other}: the server's key changed, or this is not the server (hostKeySha256)`,
    });
    const unpinned = { ...request().config, hostKeySha256: undefined };
    expect(await sut.send({ ...request(), config: unpinned }, signal())).toMatchObject({
      verdict: 'permanent',
      error: expect.stringContaining(`showed host key ${server.hostKeySha256}, which is not pinned`),
    });
    const trusted = await sut.send({ ...request(), config: { ...unpinned, trustOnFirstUse: true } }, signal());
    expect(trusted).toMatchObject({ verdict: 'delivered', reply: expect.stringContaining(`host key ${server.hostKeySha256} trusted on first use`) });
    await sut.close();
  });

  it('retries a server that takes the connection but answers nothing, as a timeout', async () => {
    const proxy = await TcpProxy.start(server.port);
    proxy.stall();
    const sut = new SftpSender({ timeoutMs: 300, replyMaxBytes: 4_096, egress: new EgressGuard(['127.0.0.0/8']), files: emptyFileStore() });
    const { request } = setup({ port: proxy.port });
    expect(await sut.send(request(), AbortSignal.timeout(5_000))).toMatchObject({ verdict: 'transient', error: expect.stringMatching(/^timeout: /) });
    await sut.close();
    await proxy.close();
  });

  it('tests by connecting and looking at the directory, writing nothing', async () => {
    const { sut, request, signal } = setup();
    writeFileSync(server.local('/in/.keep'), '');
    const before = server.operations.length;
    expect(await sut.test(request(), signal())).toMatchObject({
      verdict: 'delivered',
      reply: `connected as dispatch, host key ${server.hostKeySha256}; directory /in exists`,
    });
    expect(await sut.test({ ...request(), config: { ...request().config, directory: '/nowhere', createDirectories: false } }, signal())).toMatchObject({
      verdict: 'permanent',
      error: 'directory /nowhere does not exist (and createDirectories is false)',
    });
    expect(server.operations.length).toBe(before);
    await sut.close();
  });
});
