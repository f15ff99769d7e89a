import { connect, Socket } from 'node:net';
import { createWebhook, Json, sendEvent } from '@dispatch/testing';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

const OPERATOR_KEY = 'operator-key-for-defence-tests-000';

/** `data` nesting `levels` objects: `{"a":{"a":…{"leaf":true}}}`. */
function nestedData(levels: number): Json {
  let data: Json = { leaf: true };
  for (let level = 1; level < levels; level += 1) data = { a: data };
  return data;
}

describe('security headers', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY } });
  const operator = { authorization: `Basic ${Buffer.from(`operator:${OPERATOR_KEY}`).toString('base64')}` };

  /** The Content-Security-Policy as directive → sources. */
  function policy(headers: Headers): Record<string, string[]> {
    const header = headers.get('content-security-policy');
    expect(header).toEqual(expect.any(String));
    return Object.fromEntries(
      (header as string)
        .split(';')
        .map((directive) => directive.trim().split(/\s+/))
        .map(([name, ...sources]) => [name, sources]),
    );
  }

  it.each([
    ['the admin app', '/', {}],
    ['a file of the admin app', '/index.html', {}],
    ['the API', '/v1/destinations', 'admin'],
    ['a refused API request (401)', '/v1/destinations', {}],
    ['a route that does not exist (404)', '/v1/no-such-route', 'admin'],
    ['Bull Board', '/queues', operator],
    ['Bull Board refusing a stranger (401)', '/queues', {}],
    ['Bull Board data', '/queues/api/queues', operator],
    ['the OpenAPI UI', '/docs', {}],
    ['the OpenAPI document', '/docs-json', {}],
    ['the metrics', '/metrics', {}],
  ] as const)('on %s (%s): a policy that allows only its own scripts, no framing, nosniff, no referrer, no HSTS', async (_what, path, headers) => {
    const sent = headers === 'admin' ? { authorization: `Bearer ${system.organization.adminKey}` } : headers;
    const response = await fetch(`${system.url}${path}`, { headers: sent });
    await response.arrayBuffer();
    const directives = policy(response.headers);
    expect(directives['default-src']).toEqual(["'self'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['script-src-attr']).toEqual(["'none'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'self'"]);
    expect(directives['form-action']).toEqual(["'self'"]);
    // Inline styles only where the pages need them: Bull Board's and Swagger UI's.
    expect(directives['style-src']).toEqual(path.startsWith('/queues') || path === '/docs' ? ["'self'", "'unsafe-inline'"] : ["'self'"]);
    expect(directives).not.toHaveProperty('upgrade-insecure-requests');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(response.headers.get('strict-transport-security')).toBeNull();
  });

  it("serves Bull Board's page without its Google Fonts stylesheet (no third party is loaded)", async () => {
    const page = await (await fetch(`${system.url}/queues`, { headers: operator })).text();
    expect(page).toContain('<div id="root">');
    expect(page).not.toContain('googleapis');
  });
});

describe('too deeply nested JSON', () => {
  const system = useSystem();
  const receiver = useReceiver();

  it('answers 400 naming the limit for event data nested deeper than 64 levels, even 100 000, and stores nothing', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const deepest = `{"id":"evt_deep_1","type":"order.created","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    for (const [id, body] of [
      ['evt_deep_1', deepest],
      ['evt_deep_2', JSON.stringify({ id: 'evt_deep_2', type: 'order.created', data: nestedData(64) })],
    ]) {
      const answer = await system.client.post('/v1/events', body);
      expect([id, answer.status, answer.body]).toEqual([id, 400, { ...errorShape(400, 'Bad Request'), details: expect.any(Array) }]);
      expect(answer.body.message).toBe('the body nests arrays and objects deeper than 64 levels');
      expect((await system.client.get(`/v1/events/${id}`)).status).toBe(404);
    }
    expect((await system.client.get(`/v1/deliveries?destinationId=${destination.id}`)).body.data).toEqual([]);
  });

  it('accepts and delivers, unchanged, event data nested 32 levels (and 63, the most a body allows)', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    for (const levels of [32, 63]) {
      const data = nestedData(levels);
      const sent = await sendEvent(system.client, { type: 'order.created', data, destinations: [destination.id] });
      const received = await receiver.waitForEvent(sent.id);
      expect(JSON.parse(received.body).data).toEqual(data);
    }
  });
});

describe('inbound request timeout', () => {
  const TIMEOUT_MS = 500;
  const system = useSystem({ worker: false, env: { DISPATCH_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) } });

  /**
   * Opens a raw connection, writes `start`, then what `trickle` says every 100 ms; resolves with
   * what the server answered and how long it kept the connection open.
   */
  function slowClient(start: string, trickle?: string): Promise<{ answer: string; openMs: number }> {
    const { hostname, port } = new URL(system.url);
    return new Promise((resolve, reject) => {
      const began = Date.now();
      let answer = '';
      const socket: Socket = connect(Number(port), hostname, () => socket.write(start));
      const timer = trickle ? setInterval(() => socket.writable && socket.write(trickle), 100) : undefined;
      const giveUp = setTimeout(() => {
        socket.destroy();
        reject(new Error(`the server still held the connection after 10 s (it answered: ${JSON.stringify(answer)})`));
      }, 10_000);
      socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(giveUp);
        resolve({ answer, openMs: Date.now() - began });
      });
    });
  }

  const eventHeaders = () =>
    [
      'POST /v1/events HTTP/1.1',
      `Host: ${new URL(system.url).host}`,
      `Authorization: Bearer ${system.organization.adminKey}`,
      'Content-Type: application/json',
      'Content-Length: 100000',
      '',
      '',
    ].join('\r\n');

  it('cuts off a client that sends the headers and then trickles the body: 408 and the connection closed', async () => {
    const { answer, openMs } = await slowClient(`${eventHeaders()}{"type":"order.created","data":{"pad":"`, 'x');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(openMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(openMs).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it('cuts off a client that sends the headers and then stalls', async () => {
    const { answer, openMs } = await slowClient(eventHeaders());
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(openMs).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it('cuts off a client that trickles its headers', async () => {
    const { answer, openMs } = await slowClient('GET /health/live HTTP/1.1\r\n', 'X-Slow: 1\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(openMs).toBeLessThan(TIMEOUT_MS + 2_000);
  });

  it('still answers a client that sends its request in time, and wrote no event for those cut off', async () => {
    expect((await system.client.get('/health/live')).status).toBe(200);
    expect((await system.client.get('/v1/events')).body.data).toEqual([]);
  });
});
