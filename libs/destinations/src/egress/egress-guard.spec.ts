import type { LookupAddress } from 'node:dns';
import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';
import { Agent, request } from 'undici';
import { EgressGuard, EgressRefusedError, Resolver } from './egress-guard';

const LOOPBACK_ALLOWED = ['127.0.0.0/8', '::1/128'];

/** Every way of writing a loopback (or this-host) address that a URL or the system resolver reads as a literal. */
const LOOPBACK_SPELLINGS = [
  '127.0.0.1',
  '127.255.255.254',
  '2130706433',
  '0x7f000001',
  '0x7f.1',
  '0177.0.0.1',
  '127.1',
  '[::1]',
  '::1',
  '0:0:0:0:0:0:0:1',
  '::ffff:127.0.0.1',
  '[::ffff:7f00:1]',
  '::7f00:1',
  '::127.0.0.1',
  '64:ff9b::7f00:1',
  '2002:7f00:1::1',
  '0.0.0.0',
  '[::]',
];

/** Addresses that are not public, none of them loopback: only ever checked, never connected to. */
const NOT_PUBLIC = [
  '10.0.0.1',
  '172.16.5.4',
  '192.168.1.1',
  '169.254.169.254',
  '100.64.0.1',
  '224.0.0.1',
  '255.255.255.255',
  '0.1.2.3',
  '192.0.2.10',
  '198.18.0.1',
  '198.51.100.7',
  '203.0.113.9',
  '240.0.0.1',
  'fd00::1',
  'fc00::1',
  'fe80::1',
  'ff02::1',
  '::ffff:10.0.0.1',
  '::ffff:169.254.169.254',
  '::a9fe:a9fe',
  '64:ff9b::a9fe:a9fe',
  '64:ff9b:1::a00:1',
  '2002:a9fe:a9fe::1',
  '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  '2001:db8::1',
];

/** Public unicast addresses, in plain and embedding forms: only ever checked, never connected to. */
const PUBLIC = ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'];

/** A guard, and a resolver that answers each name from a table (the system resolver when a name is not in it). */
function setup(allow: readonly string[] = [], names: Record<string, string[]> = {}) {
  const mocks = {
    resolve: jest.fn<void, Parameters<Resolver>>((hostname, options, callback) => {
      const addresses = names[hostname];
      if (!addresses) return jest.requireActual<typeof import('node:dns')>('node:dns').lookup(hostname, options, callback);
      callback(
        null,
        addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
    }),
  };
  return { sut: new EgressGuard(allow, mocks.resolve), mocks };
}

/** What `guard.lookup` answers for `hostname`, called as net.connect calls it (`all` or not). */
function lookUp(guard: EgressGuard, hostname: string, all: boolean): Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family?: number }> {
  return new Promise((resolve) => guard.lookup(hostname, { all }, (error, address, family) => resolve({ error, address, family })));
}

/** A TCP server on `host` that counts connections and answers HTTP 200 (or 302 to `/elsewhere`). */
async function startServer(host: string): Promise<{ server: Server; port: number; connections: () => number; paths: string[] }> {
  let connections = 0;
  const paths: string[] = [];
  const server = createServer((socket: Socket) => {
    connections += 1;
    socket.on('data', (chunk) => {
      paths.push(chunk.toString().split(' ')[1]);
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as AddressInfo).port, connections: () => connections, paths };
}

describe('the egress guard: which addresses destinations may reach', () => {
  it.each(LOOPBACK_SPELLINGS)('refuses %s with an empty allow-list, and lets it through with 127.0.0.0/8,::1/128', (host) => {
    expect(setup().sut.hostRefusal(host)).toBeInstanceOf(EgressRefusedError);
    expect(setup(LOOPBACK_ALLOWED).sut.hostRefusal(host)).toBeNull();
  });

  it.each(NOT_PUBLIC)('refuses %s, whatever loopback allows', (address) => {
    expect(setup().sut.allows(address)).toBe(false);
    expect(setup(LOOPBACK_ALLOWED).sut.allows(address)).toBe(false);
  });

  it.each(PUBLIC)('allows the public address %s', (address) => {
    expect(setup().sut.allows(address)).toBe(true);
  });

  it('allows exactly the ranges listed, also when an IPv6 form embeds an address of them', () => {
    const { sut } = setup(['10.1.0.0/16', 'fd00:1::/32']);
    expect(sut.allows('10.1.2.3')).toBe(true);
    expect(sut.allows('::ffff:10.1.2.3')).toBe(true);
    expect(sut.allows('64:ff9b::a01:203')).toBe(true);
    expect(sut.allows('fd00:1::5')).toBe(true);
    expect(sut.allows('10.2.0.1')).toBe(false);
    expect(sut.allows('::ffff:10.2.0.1')).toBe(false);
    expect(sut.allows('fd00:2::5')).toBe(false);
    expect(sut.allows('127.0.0.1')).toBe(false);
  });

  it('leaves names to connect time, and says how to allow a refused literal without naming another address', () => {
    const { sut } = setup();
    expect(sut.hostRefusal('localhost')).toBeNull();
    expect(sut.hostRefusal('example.com')).toBeNull();
    const refusal = sut.hostRefusal('[::ffff:7f00:1]') as EgressRefusedError;
    expect(refusal.code).toBe('EGRESS_NOT_ALLOWED');
    expect(refusal.message).toBe(
      '[::ffff:7f00:1] is not an allowed address: Dispatch does not connect to loopback, private, link-local or other non-public addresses unless DISPATCH_EGRESS_ALLOW lists a range that holds them',
    );
  });
});

describe("the egress guard's lookup: names are checked when they are resolved", () => {
  it.each([true, false])('refuses localhost (resolving to 127.0.0.1) with an empty allow-list, all: %s, without saying what it resolved to', async (all) => {
    const { error, address } = await lookUp(setup().sut, 'localhost', all);
    expect(error).toBeInstanceOf(EgressRefusedError);
    expect(error?.message).toMatch(/^localhost resolves to an address that is not allowed: .*DISPATCH_EGRESS_ALLOW/);
    expect(error?.message).not.toContain('127.0.0.1');
    expect(address).toEqual([]);
  });

  it('answers as dns.lookup does once the address is allowed: every address for all: true, the first one otherwise', async () => {
    const { sut } = setup(LOOPBACK_ALLOWED, { 'peer.test': ['::1', '127.0.0.1'] });
    expect(await lookUp(sut, 'peer.test', true)).toEqual({
      error: null,
      address: [
        { address: '::1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ],
      family: undefined,
    });
    expect(await lookUp(sut, 'peer.test', false)).toEqual({ error: null, address: '::1', family: 6 });
    expect(await lookUp(setup(LOOPBACK_ALLOWED).sut, 'localhost', false)).toEqual({ error: null, address: '127.0.0.1', family: 4 });
  });

  it('refuses a name resolving to ::1, and a name with any refused address among public ones', async () => {
    const { sut } = setup([], { 'six.test': ['::1'], 'mixed.test': ['8.8.8.8', '10.0.0.1'] });
    expect((await lookUp(sut, 'six.test', true)).error).toBeInstanceOf(EgressRefusedError);
    expect((await lookUp(sut, 'six.test', false)).error).toBeInstanceOf(EgressRefusedError);
    expect((await lookUp(sut, 'mixed.test', false)).error).toBeInstanceOf(EgressRefusedError);
    expect((await lookUp(setup(LOOPBACK_ALLOWED, { 'six.test': ['::1'] }).sut, 'six.test', false)).error).toBeNull();
  });

  it('passes on what the resolver says about a name it cannot resolve', async () => {
    const { error } = await lookUp(setup().sut, 'nowhere.invalid', false);
    expect(error?.code).toBe('ENOTFOUND');
  });

  it.each([true, false])('guards net.connect given as its lookup (autoSelectFamily: %s): refused, then connected once allowed', async (autoSelectFamily) => {
    const peer = await startServer('127.0.0.1');
    const open = (guard: EgressGuard) =>
      new Promise<NodeJS.ErrnoException | null>((resolve) => {
        const socket = connect({ host: 'localhost', port: peer.port, lookup: guard.lookup, autoSelectFamily });
        socket.on('connect', () => (socket.destroy(), resolve(null)));
        socket.on('error', resolve);
      });
    try {
      expect(await open(setup().sut)).toBeInstanceOf(EgressRefusedError);
      expect(await open(setup(LOOPBACK_ALLOWED).sut)).toBeNull();
      // The allowed connection is a barrier: the refused one never reached the peer.
      expect(peer.connections()).toBe(1);
    } finally {
      peer.server.close();
    }
  });
});

describe("the egress guard's resolveAllowed: an address to connect to, for clients that take no lookup", () => {
  it('answers an allowed literal in its plain notation and a name as its first address', async () => {
    const { sut } = setup(LOOPBACK_ALLOWED, { 'peer.test': ['::1', '127.0.0.1'] });
    expect(await sut.resolveAllowed('0x7f.1')).toBe('127.0.0.1');
    expect(await sut.resolveAllowed('[::1]')).toBe('::1');
    expect(await sut.resolveAllowed('peer.test')).toBe('::1');
  });

  it('refuses a blocked literal and a name resolving to a blocked address, and passes on an unresolvable name', async () => {
    const { sut } = setup([], { 'inside.test': ['10.0.0.1'] });
    await expect(sut.resolveAllowed('127.0.0.1')).rejects.toThrow('127.0.0.1 is not an allowed address');
    await expect(sut.resolveAllowed('inside.test')).rejects.toThrow('inside.test resolves to an address that is not allowed');
    await expect(sut.resolveAllowed('nowhere.invalid')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe("the egress guard's undici connector: every connection checked, literals too", () => {
  const agents: Agent[] = [];
  const agentOf = (guard: EgressGuard) => {
    const agent = new Agent({ connect: guard.connector({ timeout: 5_000 }) });
    agents.push(agent);
    return agent;
  };
  afterAll(() => Promise.all(agents.map((agent) => agent.close())));

  it.each([
    ['http://127.0.0.1:PORT/hook', '127.0.0.1'],
    ['http://2130706433:PORT/hook', '127.0.0.1'],
    ['http://0x7f.1:PORT/hook', '127.0.0.1'],
    ['http://localhost:PORT/hook', '127.0.0.1'],
    ['http://[::ffff:127.0.0.1]:PORT/hook', '127.0.0.1'],
    ['http://[::1]:PORT/hook', '::1'],
  ])('refuses %s (a peer on %s) with an empty allow-list, and reaches it once loopback is allowed', async (url, host) => {
    const peer = await startServer(host);
    try {
      const target = url.replace('PORT', String(peer.port));
      await expect(request(target, { dispatcher: agentOf(setup().sut) })).rejects.toMatchObject({
        code: 'EGRESS_NOT_ALLOWED',
        message: expect.stringContaining('DISPATCH_EGRESS_ALLOW'),
      });
      const allowed = await request(target, { dispatcher: agentOf(setup(LOOPBACK_ALLOWED).sut) });
      expect(allowed.statusCode).toBe(200);
      await allowed.body.text();
      // The allowed request is a barrier: the refused one never reached the peer.
      expect(peer.connections()).toBe(1);
      expect(peer.paths).toEqual(['/hook']);
    } finally {
      peer.server.close();
    }
  });
});
