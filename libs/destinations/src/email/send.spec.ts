import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, createServer as createNetServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { retryPolicySchema } from '@dispatch/domain';
import { emptyFileStore } from '@dispatch/testing';
import { EgressGuard } from '../egress';
import { FilesystemFileStore } from '../files/filesystem-file-store';
import type { SendRequest } from '../kind';
import { EmailConfig, emailConfigSchema } from './config';
import { SmtpPeer, startSmtpPeer } from './email.contract';
import { PROVIDER_FILE_LIMITS } from './providers';
import { EmailSender } from './send';

const LOOPBACK = new EgressGuard(['127.0.0.0/8', '::1/128']);
const live = () => new AbortController().signal;

/** A stand-in for a provider's API on loopback: records each request, answers what `answer` says. */
type Seen = { method: string; url: string; headers: IncomingMessage['headers']; body: string };
async function startProvider(answer: (seen: Seen) => { status: number; body?: string; headers?: Record<string, string> }) {
  const seen: Seen[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(entry);
      const reply = answer(entry);
      response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(reply.body ?? '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

function setup(files = emptyFileStore()) {
  const sut = new EmailSender({ timeoutMs: 5_000, replyMaxBytes: 1_024, egress: LOOPBACK, files });
  const request = (config: Record<string, unknown>, data: unknown = { order: 42 }, destinationId = 'dst_1'): SendRequest<EmailConfig> => ({
    destinationId,
    organizationId: 'org_1',
    config: emailConfigSchema.parse({ from: 'dispatch@example.com', to: ['ops@example.com', 'audit@example.com'], ...config }),
    secrets: [],
    retryPolicy: retryPolicySchema.parse({}),
    deliveryId: 'dlv_1',
    attemptNumber: 1,
    event: { id: 'evt_1', type: 'order.paid', data, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  });
  return { sut, request };
}

describe('the email sender over SMTP', () => {
  let open: SmtpPeer;
  let locked: SmtpPeer;
  const smtp = (peer: SmtpPeer, more: Record<string, unknown> = {}) => ({ transport: 'smtp', host: '127.0.0.1', port: peer.address.port, ...more });

  beforeAll(async () => {
    [open, locked] = await Promise.all([startSmtpPeer(), startSmtpPeer({ user: 'dispatch', pass: 'right' })]);
  });
  afterAll(async () => {
    await Promise.all([open.close(), locked.close()]);
  });
  afterEach(() => open.refuseWith(null));

  it('sends the event JSON as an attachment named by fileName, with the filled subject, and records the server reply', async () => {
    const { sut, request } = setup();
    const result = await sut.send(request(smtp(open, { subject: 'Paid: {event.type} #{data.order}', fileName: 'order-{data.order}.json' })), live());
    await sut.close();
    expect(result).toEqual({ verdict: 'delivered', statusCode: 250, reply: expect.stringContaining('queued as test'), durationMs: expect.any(Number) });
    const mail = open.mails.at(-1)!;
    expect(mail).toMatchObject({ from: 'dispatch@example.com', to: ['ops@example.com', 'audit@example.com'], subject: 'Paid: order.paid #42' });
    expect(mail.text).toContain('order-42.json is attached');
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({ filename: 'order-42.json', contentType: 'application/json' });
    expect(JSON.parse(mail.attachments[0].content.toString())).toEqual({ id: 'evt_1', type: 'order.paid', timestamp: '2026-01-02T03:04:05.000Z', data: { order: 42 } });
  });

  it('puts a text file in the body when attach is false, and refuses a binary one as permanent', async () => {
    const { sut, request } = setup();
    expect(await sut.send(request(smtp(open, { attach: false }), { content: 'line one\nline two' }), live())).toMatchObject({ verdict: 'delivered' });
    expect(open.mails.at(-1)).toMatchObject({ text: 'line one\nline two', attachments: [] });
    const before = open.mails.length;
    expect(await sut.send(request(smtp(open, { attach: false }), { contentBase64: 'AAEC' }), live())).toEqual({
      verdict: 'permanent',
      error: expect.stringMatching(/^attach is false, but evt_1\.json is not text/),
      durationMs: expect.any(Number),
    });
    expect(open.mails.length).toBe(before);
    await sut.close();
  });

  it('streams an uploaded file as the attachment', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'dispatch-email-files-'));
    try {
      const files = new FilesystemFileStore(directory);
      const bytes = Buffer.alloc(3 * 1024 * 1024 + 1, 7);
      bytes.write('evt_1 marker', 1000);
      await files.put('fil_upload1', Readable.from([bytes]));
      const { sut, request } = setup(files);
      expect(await sut.send(request(smtp(open, { fileName: 'report.bin' }), { fileId: 'fil_upload1' }), live())).toMatchObject({ verdict: 'delivered' });
      await sut.close();
      expect(open.mails.at(-1)!.attachments[0]).toMatchObject({ filename: 'report.bin', contentType: 'application/octet-stream' });
      expect(open.mails.at(-1)!.attachments[0].content.equals(bytes)).toBe(true);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('takes a 4xx reply as transient and a 5xx reply as permanent, with the reply code and text', async () => {
    const { sut, request } = setup();
    open.refuseWith({ code: 451, message: 'Try again later' });
    expect(await sut.send(request(smtp(open)), live())).toEqual({
      verdict: 'transient',
      statusCode: 451,
      reason: 'SMTP 451',
      reply: expect.stringContaining('Try again later'),
      durationMs: expect.any(Number),
    });
    open.refuseWith({ code: 550, message: 'Mailbox unavailable' });
    expect(await sut.send(request(smtp(open)), live())).toMatchObject({ verdict: 'permanent', statusCode: 550, reason: 'SMTP 550' });
    open.refuseWith(null);
    expect(await sut.send(request(smtp(open)), live())).toMatchObject({ verdict: 'delivered' });
    await sut.close();
  });

  it('logs in with the username and password, and takes a refused login (535) as permanent without repeating the password', async () => {
    const { sut, request } = setup();
    expect(await sut.send(request(smtp(locked, { username: 'dispatch', password: 'right' })), live())).toMatchObject({ verdict: 'delivered' });
    expect(locked.mails.at(-1)!.user).toBe('dispatch');
    const refused = await sut.send(request(smtp(locked, { username: 'dispatch', password: 'wrong-password' }), undefined, 'dst_2'), live());
    expect(refused).toMatchObject({ verdict: 'permanent', statusCode: 535 });
    expect(JSON.stringify(refused)).not.toContain('wrong-password');
    await sut.close();
  });

  it('with requireTls, sends nothing to a server that offers no STARTTLS: its refusal of STARTTLS is permanent', async () => {
    const { sut, request } = setup();
    const before = locked.mails.length;
    const result = await sut.send(request(smtp(locked, { username: 'dispatch', password: 'right', requireTls: true })), live());
    expect(result).toMatchObject({ verdict: 'permanent', statusCode: 500, reply: expect.stringContaining('command not recognized') });
    expect(locked.mails.length).toBe(before);
    await sut.close();
  });

  it('keeps one pooled connection per destination across attempts, and closes it when released', async () => {
    const { sut, request } = setup();
    const before = open.connections();
    await sut.send(request(smtp(open), {}, 'dst_pool'), live());
    await sut.send(request(smtp(open), {}, 'dst_pool'), live());
    expect(open.connections()).toBe(before + 1);
    await sut.release('dst_pool');
    await waitFor(() => open.connections() === before);
    await sut.close();
  });

  it('connects only where the egress guard allows, and retries a server that cannot be reached', async () => {
    const guarded = new EmailSender({ timeoutMs: 5_000, replyMaxBytes: 1_024, egress: new EgressGuard([]), files: emptyFileStore() });
    const { request } = setup();
    expect(await guarded.send(request(smtp(open)), live())).toMatchObject({
      verdict: 'transient',
      error: expect.stringMatching(/EGRESS_NOT_ALLOWED.*not an allowed address/),
    });
    await guarded.close();
    const { sut } = setup();
    expect(await sut.send(request({ transport: 'smtp', host: '127.0.0.1', port: 1 }), live())).toMatchObject({
      verdict: 'transient',
      error: expect.stringContaining('ECONNREFUSED'),
    });
    await sut.close();
  });

  it('records a timeout, as transient, when the server takes the connection but never greets', async () => {
    const silent = createNetServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sut = new EmailSender({ timeoutMs: 300, replyMaxBytes: 1_024, egress: LOOPBACK, files: emptyFileStore() });
    const { request } = setup();
    const result = await sut.send(request({ transport: 'smtp', host: '127.0.0.1', port: (silent.address() as AddressInfo).port }), live());
    expect(result).toMatchObject({ verdict: 'transient', error: expect.stringMatching(/^timeout/) });
    expect(result.durationMs).toBeLessThan(2_000);
    await sut.close();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('tests by logging in on a connection of its own, sending nothing', async () => {
    const { sut, request } = setup();
    const before = locked.mails.length;
    expect(await sut.test(request(smtp(locked, { username: 'dispatch', password: 'right' })), live())).toEqual({ verdict: 'delivered', durationMs: expect.any(Number) });
    expect(await sut.test(request(smtp(locked, { username: 'dispatch', password: 'nope' })), live())).toMatchObject({ verdict: 'permanent', statusCode: 535 });
    expect(locked.mails.length).toBe(before);
    await sut.close();
  });
});

describe('the email sender through providers', () => {
  const common = { apiKey: 'key-0123456789' };

  it('posts to SendGrid v3 mail/send with the key as a bearer token and the file as base64', async () => {
    const provider = await startProvider(() => ({ status: 202, body: '' }));
    const { sut, request } = setup();
    const result = await sut.send(request({ transport: 'sendgrid', endpoint: provider.url, subject: '{event.type}', ...common }), live());
    await Promise.all([sut.close(), provider.close()]);
    expect(result).toEqual({ verdict: 'delivered', statusCode: 202, durationMs: expect.any(Number) });
    const [seen] = provider.seen;
    expect(seen).toMatchObject({
      method: 'POST',
      url: '/v3/mail/send',
      headers: expect.objectContaining({ authorization: 'Bearer key-0123456789', 'content-type': 'application/json' }),
    });
    const body = JSON.parse(seen.body);
    expect(body).toMatchObject({
      personalizations: [{ to: [{ email: 'ops@example.com' }, { email: 'audit@example.com' }] }],
      from: { email: 'dispatch@example.com' },
      subject: 'order.paid',
      content: [{ type: 'text/plain', value: expect.stringContaining('evt_1.json is attached') }],
      attachments: [{ filename: 'evt_1.json', type: 'application/json', disposition: 'attachment', content: expect.any(String) }],
    });
    expect(JSON.parse(Buffer.from(body.attachments[0].content, 'base64').toString())).toMatchObject({ id: 'evt_1', data: { order: 42 } });
  });

  it('posts to Resend /emails, and reads 429 as transient after Retry-After, 5xx as transient, 401, 403, 422 and 400 as permanent', async () => {
    const statuses = [200, 429, 503, 401, 403, 422, 400];
    const provider = await startProvider((seen) => {
      const status = statuses[provider.seen.indexOf(seen)];
      return { status, headers: (status === 429 ? { 'retry-after': '7' } : {}) as Record<string, string>, body: status === 200 ? '{"id":"re_1"}' : '{"message":"no"}' };
    });
    const { sut, request } = setup();
    const results = [];
    for (const _status of statuses) results.push(await sut.send(request({ transport: 'resend', endpoint: provider.url, attach: false, ...common }), live()));
    await Promise.all([sut.close(), provider.close()]);
    expect(provider.seen[0]).toMatchObject({ url: '/emails', headers: expect.objectContaining({ authorization: 'Bearer key-0123456789' }) });
    expect(JSON.parse(provider.seen[0].body)).toEqual({
      from: 'dispatch@example.com',
      to: ['ops@example.com', 'audit@example.com'],
      subject: 'order.paid',
      text: expect.stringContaining('"id":"evt_1"'),
    });
    expect(results.map((result) => [result.verdict, result.statusCode, result.retryAfterMs])).toEqual([
      ['delivered', 200, undefined],
      ['transient', 429, 7000],
      ['transient', 503, undefined],
      ['permanent', 401, undefined],
      ['permanent', 403, undefined],
      ['permanent', 422, undefined],
      ['permanent', 400, undefined],
    ]);
    expect(results[0].reply).toBe('{"id":"re_1"}');
  });

  it('refuses a file over the provider limit as permanent, naming the limit, before sending anything', async () => {
    const provider = await startProvider(() => ({ status: 202 }));
    const directory = mkdtempSync(path.join(tmpdir(), 'dispatch-email-files-'));
    try {
      const files = new FilesystemFileStore(directory);
      const size = PROVIDER_FILE_LIMITS.sendgrid + 1;
      await files.put(
        'fil_big',
        Readable.from(
          (function* () {
            for (let sent = 0; sent < size; sent += 1024 * 1024) yield Buffer.alloc(Math.min(1024 * 1024, size - sent));
          })(),
        ),
      );
      const { sut, request } = setup(files);
      expect(await sut.send(request({ transport: 'sendgrid', endpoint: provider.url, ...common }, { fileId: 'fil_big' }), live())).toEqual({
        verdict: 'permanent',
        error: `evt_1.json is ${size} bytes: SendGrid is sent files up to 20 MiB (attachments travel as base64)`,
        durationMs: expect.any(Number),
      });
      expect(provider.seen).toEqual([]);
      await sut.close();
    } finally {
      await provider.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('sends SES v2 SendEmail signed with SigV4, the raw MIME message carrying the attachment', async () => {
    const provider = await startProvider(() => ({ status: 200, body: '{"MessageId":"ses-1"}' }));
    const { sut, request } = setup();
    const config = { transport: 'ses', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', endpoint: provider.url, ...common };
    const result = await sut.send(request(config), live());
    expect(result).toEqual({ verdict: 'delivered', statusCode: 200, reply: '{"MessageId":"ses-1"}', durationMs: expect.any(Number) });
    const [seen] = provider.seen;
    expect(seen).toMatchObject({ method: 'POST', url: '/v2/email/outbound-emails' });
    expect(seen.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE\/\d{8}\/eu-west-1\/ses\/aws4_request, SignedHeaders=.*, Signature=[0-9a-f]{64}$/,
    );
    const body = JSON.parse(seen.body);
    expect(body).toMatchObject({ FromEmailAddress: 'dispatch@example.com', Destination: { ToAddresses: ['ops@example.com', 'audit@example.com'] } });
    const raw = Buffer.from(body.Content.Raw.Data, 'base64').toString();
    expect(raw).toContain('Subject: order.paid');
    expect(raw).toMatch(/Content-Disposition: attachment; filename=evt_1\.json/);
    expect(JSON.stringify(seen)).not.toContain(common.apiKey);
    await Promise.all([sut.close(), provider.close()]);
  });

  it('reads an SES throttle as transient and a rejected message as permanent', async () => {
    const answers = [
      { status: 429, body: '{"message":"slow down"}', headers: { 'x-amzn-errortype': 'TooManyRequestsException' } },
      { status: 400, body: '{"message":"Email address is not verified."}', headers: { 'x-amzn-errortype': 'MessageRejected' } },
    ];
    const provider = await startProvider((seen) => answers[provider.seen.indexOf(seen)]);
    const { sut, request } = setup();
    const config = { transport: 'ses', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', endpoint: provider.url, ...common };
    expect(await sut.send(request(config), live())).toMatchObject({ verdict: 'transient', statusCode: 429, reply: expect.stringContaining('TooManyRequestsException') });
    expect(await sut.send(request(config), live())).toMatchObject({ verdict: 'permanent', statusCode: 400, reply: expect.stringContaining('not verified') });
    await Promise.all([sut.close(), provider.close()]);
  });

  it('tests each provider with an authenticated call that sends nothing', async () => {
    const provider = await startProvider((seen) =>
      seen.url === '/domains'
        ? { status: 401, body: '{"name":"restricted_api_key","message":"This API key is restricted to only send emails"}' }
        : { status: 200, body: '{}' },
    );
    const { sut, request } = setup();
    expect(await sut.test(request({ transport: 'sendgrid', endpoint: provider.url, ...common }), live())).toMatchObject({ verdict: 'delivered', statusCode: 200 });
    expect(await sut.test(request({ transport: 'resend', endpoint: provider.url, ...common }), live())).toMatchObject({ verdict: 'delivered' });
    expect(await sut.test(request({ transport: 'ses', region: 'us-east-1', accessKeyId: 'AKIAEXAMPLE', endpoint: provider.url, ...common }), live())).toMatchObject({
      verdict: 'delivered',
    });
    expect(provider.seen.map((seen) => `${seen.method} ${seen.url}`)).toEqual(['GET /v3/scopes', 'GET /domains', 'GET /v2/email/account']);
    await Promise.all([sut.close(), provider.close()]);
  });

  it('refuses a provider endpoint the egress guard does not allow', async () => {
    const guarded = new EmailSender({ timeoutMs: 5_000, replyMaxBytes: 1_024, egress: new EgressGuard([]), files: emptyFileStore() });
    const { request } = setup();
    for (const config of [
      { transport: 'resend', endpoint: 'http://127.0.0.1:9', ...common },
      { transport: 'ses', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', endpoint: 'http://127.0.0.1:9', ...common },
    ])
      expect(await guarded.send(request(config), live())).toMatchObject({ verdict: 'transient', error: expect.stringMatching(/EGRESS_NOT_ALLOWED/) });
    await guarded.close();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
