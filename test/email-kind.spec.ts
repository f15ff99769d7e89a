import { randomBytes } from 'node:crypto';
import { Json, ReceivedRequest, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import { mentions, SmtpPeer, startSmtpPeer } from '../libs/destinations/src/email/email.contract';
import { useReceiver, useSystem } from './system';

const USER = 'dispatch';
const PASSWORD = 'right-password-0123';
const FROM = 'dispatch@example.com';
const TO = ['ops@example.com'];
const RETRY_QUICKLY = { retryPolicy: { maxAttempts: 5, schedule: [300], jitter: 0 } };

describe('email destinations', () => {
  const system = useSystem({ env: { DISPATCH_WEBHOOK_TIMEOUT_MS: '5000' } });
  const provider = useReceiver();
  let open: SmtpPeer;
  let locked: SmtpPeer;

  beforeAll(async () => {
    [open, locked] = await Promise.all([startSmtpPeer(), startSmtpPeer({ user: USER, pass: PASSWORD })]);
  });
  afterAll(async () => {
    await Promise.all([open?.close(), locked?.close()]);
  });
  afterEach(() => open.refuseWith(null));

  const smtp = (peer: SmtpPeer, more: Record<string, unknown> = {}) => ({ transport: 'smtp', host: '127.0.0.1', port: peer.address.port, from: FROM, to: TO, ...more });

  async function createEmail(config: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<Json> {
    const answer = await system.client.post('/v1/destinations', { name: uniqueId('email'), kind: 'email', config, eventTypes: [`${uniqueId('email')}.*`], ...overrides });
    expect(answer.status).toBe(201);
    return answer.body;
  }

  async function deliver(destinationId: string, data: unknown = {}): Promise<{ eventId: string; deliveryId: string }> {
    const eventId = uniqueId('evt_email');
    const accepted = await sendEvent(system.client, { id: eventId, type: 'invoice.issued', data, destinations: [destinationId] });
    return { eventId, deliveryId: accepted.deliveries[0].id };
  }

  it('mails the event as a JSON attachment with the filled subject, and records the server reply', async () => {
    const destination = await createEmail(smtp(open, { subject: 'Invoice {data.number} ({event.type})', fileName: 'invoice-{data.number}.json' }));
    const { eventId, deliveryId } = await deliver(destination.id, { number: 'A-17', total: 99.5 });
    const mail = await open.waitForMail((one) => mentions(one, eventId), 10_000);
    expect(mail).toMatchObject({ from: FROM, to: TO, subject: 'Invoice A-17 (invoice.issued)' });
    expect(mail.attachments).toEqual([{ filename: 'invoice-A-17.json', contentType: 'application/json', content: expect.any(Buffer) }]);
    expect(JSON.parse(mail.attachments[0].content.toString())).toEqual({
      id: eventId,
      type: 'invoice.issued',
      timestamp: expect.any(String),
      data: { number: 'A-17', total: 99.5 },
    });
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'delivered', statusCode: 250, error: null })]);
  });

  it('attaches inline content and contentBase64 as they are, and puts text in the body when attach is false', async () => {
    const attaching = await createEmail(smtp(open, { fileName: '{event.id}.txt' }));
    const text = await deliver(attaching.id, { content: 'plain words' });
    const binary = await deliver(attaching.id, { contentBase64: Buffer.from([0, 1, 2, 250]).toString('base64') });
    const inline = await createEmail(smtp(open, { attach: false }));
    const body = await deliver(inline.id, { content: 'the report, as text' });
    for (const { deliveryId } of [text, binary, body]) await waitForDelivery(system.client, deliveryId, 'delivered');
    const mailOf = (eventId: string) => open.mails.find((mail) => mail.attachments[0]?.filename === `${eventId}.txt`)!;
    expect(mailOf(text.eventId).attachments[0]).toMatchObject({ contentType: 'text/plain', content: Buffer.from('plain words') });
    expect(mailOf(binary.eventId).attachments[0]).toMatchObject({ contentType: 'application/octet-stream', content: Buffer.from([0, 1, 2, 250]) });
    expect(open.mails.find((mail) => mail.text === 'the report, as text')).toMatchObject({ attachments: [] });
    // Binary content cannot be a body: a dead letter at once, saying why.
    const refused = await deliver(inline.id, { contentBase64: 'AAEC' });
    const failed = await waitForDelivery(system.client, refused.deliveryId, 'failed');
    expect(failed.attempts).toEqual([expect.objectContaining({ outcome: 'failed', error: expect.stringMatching(/^attach is false, but .* is not text/) })]);
  });

  it('mails an uploaded 5 MB file as the attachment, byte for byte', async () => {
    const content = randomBytes(5 * 1024 * 1024);
    const uploaded = await fetch(`${system.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${system.organization.producerKey}`, 'content-type': 'application/octet-stream' },
      body: content,
    });
    expect(uploaded.status).toBe(201);
    const { id } = (await uploaded.json()) as { id: string };
    const destination = await createEmail(smtp(open, { fileName: 'export-{event.id}.bin' }));
    const { eventId, deliveryId } = await deliver(destination.id, { fileId: id });
    await waitForDelivery(system.client, deliveryId, 'delivered', 20_000);
    const mail = open.mails.find((one) => one.attachments[0]?.filename === `export-${eventId}.bin`)!;
    expect(mail.attachments[0].contentType).toBe('application/octet-stream');
    expect(mail.attachments[0].content.equals(content)).toBe(true);
  });

  it('retries while the server answers 4xx and delivers once it takes the mail; a 5xx answer is a dead letter at once', async () => {
    const destination = await createEmail(smtp(open), RETRY_QUICKLY);
    open.refuseWith({ code: 451, message: 'Greylisted, try again later' });
    const { eventId, deliveryId } = await deliver(destination.id);
    const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
    expect(retrying.attempts[0]).toMatchObject({ number: 1, outcome: 'retry', statusCode: 451 });
    open.refuseWith(null);
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts.at(-1)).toMatchObject({ outcome: 'delivered', statusCode: 250 });
    await open.waitForEvent(eventId, 5_000);

    open.refuseWith({ code: 550, message: 'No such mailbox' });
    const refused = await deliver(destination.id);
    const failed = await waitForDelivery(system.client, refused.deliveryId, 'failed');
    expect(failed.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'failed', statusCode: 550 })]);
  });

  it('logs in with the password, and takes a refused login (535) as a dead letter, never showing the password', async () => {
    const right = await createEmail(smtp(locked, { username: USER, password: PASSWORD }));
    const { eventId, deliveryId } = await deliver(right.id);
    await waitForDelivery(system.client, deliveryId, 'delivered');
    expect((await locked.waitForEvent(eventId, 5_000), locked.mails.at(-1)!.user)).toBe(USER);
    const wrong = await createEmail(smtp(locked, { username: USER, password: 'wrong-password-0123' }), RETRY_QUICKLY);
    const failed = await waitForDelivery(system.client, (await deliver(wrong.id)).deliveryId, 'failed');
    expect(failed.attempts).toEqual([expect.objectContaining({ outcome: 'failed', statusCode: 535 })]);
    expect(JSON.stringify(failed)).not.toContain('wrong-password');
  });

  it('sends through SendGrid and Resend with their API key, retrying 429 and 5xx and failing at once on 401, 403 and 422', async () => {
    // Each event's requests are answered in turn by its script (the event id is in the attached JSON).
    const eventOf = (request: ReceivedRequest): string => JSON.parse(Buffer.from(JSON.parse(request.body).attachments[0].content, 'base64').toString()).id;
    provider.answer((request) => {
      const script = scripts.get(eventOf(request)) ?? [{ status: 500 }];
      const earlier = provider.requests.filter((one) => eventOf(one) === eventOf(request)).length - 1;
      return script[Math.min(earlier, script.length - 1)];
    });
    const scripts = new Map<string, { status: number; headers?: Record<string, string> }[]>();
    const sendgrid = await createEmail({ transport: 'sendgrid', apiKey: 'SG.key-0123456789', endpoint: provider.url, from: FROM, to: TO }, RETRY_QUICKLY);
    const resend = await createEmail({ transport: 'resend', apiKey: 're_key_0123456789', endpoint: provider.url, from: FROM, to: TO }, RETRY_QUICKLY);
    const cases: [Json, { status: number; headers?: Record<string, string> }[], string, number[]][] = [
      [sendgrid, [{ status: 202 }], 'delivered', [202]],
      [resend, [{ status: 429, headers: { 'retry-after': '1' } }, { status: 503 }, { status: 200 }], 'delivered', [429, 503, 200]],
      [sendgrid, [{ status: 401 }], 'failed', [401]],
      [resend, [{ status: 403 }], 'failed', [403]],
      [resend, [{ status: 422 }], 'failed', [422]],
    ];
    for (const [destination, script, status, statusCodes] of cases) {
      const eventId = uniqueId('evt_email');
      scripts.set(eventId, script);
      const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'invoice.issued', destinations: [destination.id] })).deliveries[0].id;
      const done = await waitForDelivery(system.client, deliveryId, status, 15_000);
      expect(done.attempts.map((attempt: Json) => attempt.statusCode)).toEqual(statusCodes);
    }
    const first = provider.requests[0];
    expect(first).toMatchObject({ method: 'POST', path: '/v3/mail/send', headers: expect.objectContaining({ authorization: 'Bearer SG.key-0123456789' }) });
    expect(provider.requests.find((request) => request.path === '/emails')!.headers.authorization).toBe('Bearer re_key_0123456789');
    // Retry-After: 1 is honoured: the attempt after the 429 came no sooner.
    const resendTimes = provider.requests.filter((request) => request.path === '/emails').map((request) => request.receivedAt);
    expect(resendTimes[1] - resendTimes[0]).toBeGreaterThanOrEqual(950);
  });

  it('shows the password and API key as "********" after creation, and keeps them when a change sends that back', async () => {
    const created = await createEmail(smtp(locked, { username: USER, password: PASSWORD }));
    expect(created.config).toMatchObject({ username: USER, password: '********' });
    const patched = await system.client.request('PATCH', `/v1/destinations/${created.id}`, { config: { ...created.config, subject: 'Renamed {event.type}' } });
    expect(patched.status).toBe(200);
    await waitForDelivery(system.client, (await deliver(created.id)).deliveryId, 'delivered');
    expect(locked.mails.at(-1)!.subject).toBe('Renamed invoice.issued');
    const ses = await createEmail({ transport: 'ses', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE', apiKey: 'ses-secret-0123456789', from: FROM, to: TO });
    expect(ses.config).toMatchObject({ accessKeyId: 'AKIAEXAMPLE', apiKey: '********' });
    const listed = await system.client.get('/v1/destinations?limit=200');
    expect(JSON.stringify([created, patched.body, ses, listed.body])).not.toMatch(/right-password|ses-secret/);
  });

  it('tests a destination by logging in (SMTP) or with an authenticated call (providers), sending no mail', async () => {
    const test = async (config: Record<string, unknown>) => (await system.client.post(`/v1/destinations/${(await createEmail(config)).id}/test`)).body;
    const before = locked.mails.length;
    expect(await test(smtp(locked, { username: USER, password: PASSWORD }))).toMatchObject({ ok: true });
    expect(await test(smtp(locked, { username: USER, password: 'nope-0123' }))).toMatchObject({ ok: false, statusCode: 535 });
    expect(await test(smtp({ ...open, address: { host: '127.0.0.1', port: 1 } } as SmtpPeer))).toMatchObject({
      ok: false,
      error: expect.stringContaining('ECONNREFUSED'),
    });
    expect(locked.mails.length).toBe(before);
    provider.answer((request) => (request.headers.authorization === 'Bearer SG.good' ? { status: 200, body: '{"scopes":["mail.send"]}' } : { status: 401 }));
    expect(await test({ transport: 'sendgrid', apiKey: 'SG.good', endpoint: provider.url, from: FROM, to: TO })).toMatchObject({ ok: true });
    expect(await test({ transport: 'sendgrid', apiKey: 'SG.bad', endpoint: provider.url, from: FROM, to: TO })).toMatchObject({ ok: false, statusCode: 401 });
    expect(provider.requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /v3/scopes', 'GET /v3/scopes']);
  });
});
