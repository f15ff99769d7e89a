import { Webhook } from 'standardwebhooks';
import { generateSigningSecret, redactSecrets, signatureHeader, signingSecretProblem, signPayload } from './signing';

describe('Standard Webhooks signing', () => {
  const secret = generateSigningSecret();
  const body = JSON.stringify({ id: 'evt_1', type: 'order.created', timestamp: '2026-11-23T00:00:00.000Z', data: { n: 1 } });
  const timestamp = Math.floor(Date.now() / 1000);

  it('generates whsec_ secrets of 32 random bytes', () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(generateSigningSecret()).not.toBe(secret);
  });

  it('produces a signature the standardwebhooks package verifies', () => {
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signPayload(secret, 'evt_1', timestamp, body) };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('fails verification when the body was changed', () => {
    const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signPayload(secret, 'evt_1', timestamp, body) };
    expect(() => new Webhook(secret).verify(body.replace('"n":1', '"n":2'), headers)).toThrow();
  });

  it('signs with every live secret, space-separated, so either verifies', () => {
    const next = generateSigningSecret();
    const header = signatureHeader([secret, next], 'evt_1', timestamp, body);
    expect(header.split(' ')).toHaveLength(2);
    for (const key of [secret, next]) {
      expect(new Webhook(key).verify(body, { 'webhook-id': 'evt_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': header })).toBeTruthy();
    }
  });

  it('rejects secrets without the prefix or with too few bytes', () => {
    expect(signingSecretProblem('abc')).toContain('whsec_');
    expect(signingSecretProblem('whsec_AAAA')).toContain('24 to 64 bytes');
    expect(signingSecretProblem(secret)).toBeNull();
  });

  it('masks secrets and API keys in text meant for logs', () => {
    const text = `create({ data: { secret: "${secret}" } }) with key dsp_abcDEF123-_x failed`;
    const redacted = redactSecrets(text);
    expect(redacted).not.toContain(secret);
    expect(redacted).not.toContain('dsp_abcDEF123');
    expect(redacted).toBe('create({ data: { secret: "whsec_…redacted" } }) with key dsp_…redacted failed');
  });
});
