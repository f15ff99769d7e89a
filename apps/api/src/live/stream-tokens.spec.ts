import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { StreamTokens } from './stream-tokens';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const GRANT = { organizationId: 'org_0abc', subject: 'user_123@shop|eu', ttlSeconds: 3600 };

function setup() {
  const mocks = { current: randomBytes(32), previous: randomBytes(32) };
  return { sut: new StreamTokens({ current: mocks.current, previous: mocks.previous }), mocks };
}

/** A token signed with the deployment's real derived key around a payload of our choosing: only the payload checks can refuse it. */
function signedPayload(key: Buffer, payload: unknown): string {
  const derived = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'dispatch stream tokens', 32));
  const encoded = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64url');
  return `${encoded}.${createHmac('sha256', derived).update(encoded).digest('base64url')}`;
}

describe('StreamTokens', () => {
  it('reads back the organization, subject and expiry of a token it made; each token is different', () => {
    const { sut } = setup();
    const minted = sut.mint(GRANT, NOW);
    expect(minted.expiresAt).toEqual(new Date(NOW.getTime() + 3_600_000));
    expect(minted.token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(sut.verify(minted.token, NOW)).toEqual({ organizationId: 'org_0abc', subject: 'user_123@shop|eu', expiresAt: minted.expiresAt });
    expect(sut.mint(GRANT, NOW).token).not.toBe(minted.token);
  });

  it('refuses a token made under another key', () => {
    const { sut } = setup();
    const foreign = new StreamTokens({ current: randomBytes(32) }).mint(GRANT, NOW).token;
    expect(sut.verify(foreign, NOW)).toBeNull();
  });

  it('accepts a token made under the previous key while it is set, and not once it is gone', () => {
    const { sut, mocks } = setup();
    const before = new StreamTokens({ current: mocks.previous }).mint(GRANT, NOW).token;
    expect(sut.verify(before, NOW)).toMatchObject({ organizationId: 'org_0abc', subject: GRANT.subject });
    expect(new StreamTokens({ current: mocks.current }).verify(before, NOW)).toBeNull();
  });

  it('refuses a token whose payload or signature was changed', () => {
    const { sut } = setup();
    const [payload, signature] = sut.mint(GRANT, NOW).token.split('.');
    const other = sut.mint({ ...GRANT, subject: 'user_456' }, NOW).token.split('.');
    const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const rewritten = Buffer.from(JSON.stringify({ ...claims, s: 'user_456' })).toString('base64url');
    for (const changed of [
      `${flip(payload, 5)}.${signature}`,
      `${payload}.${flip(signature, 5)}`,
      `${rewritten}.${signature}`,
      `${other[0]}.${signature}`,
      `${payload}.${other[1]}`,
      `${payload}.${signature.slice(0, -2)}`,
      `${payload}.${signature}.${signature}`,
      `${payload}.${signature}=`,
    ]) {
      expect([changed, sut.verify(changed, NOW)]).toEqual([changed, null]);
    }
  });

  it('refuses a token at and after its expiry, not a second before', () => {
    const { sut } = setup();
    const { token, expiresAt } = sut.mint({ ...GRANT, ttlSeconds: 60 }, NOW);
    expect(sut.verify(token, new Date(expiresAt.getTime() - 1000))).not.toBeNull();
    expect(sut.verify(token, expiresAt)).toBeNull();
    expect(sut.verify(token, new Date(expiresAt.getTime() + 86_400_000))).toBeNull();
  });

  it('refuses garbage', () => {
    const { sut } = setup();
    for (const garbage of ['', '.', 'abc', 'abc.', '.abc', 'a.b', 'not base64!.x', '%%%.%%%', 'x'.repeat(5000), `${'a'.repeat(43)}.${'b'.repeat(43)}`]) {
      expect([garbage, sut.verify(garbage, NOW)]).toEqual([garbage, null]);
    }
  });

  it('refuses a signed payload of the wrong shape: wrong types, a subject outside the rule, missing or extra fields', () => {
    const { sut, mocks } = setup();
    const good = { o: 'org_0abc', s: 'user_123', e: NOW.getTime() / 1000 + 60, n: 'AAAAAAAAAAAAAAAA' };
    // The signing helper is right: a good payload signed with it is read.
    expect(sut.verify(signedPayload(mocks.current, good), NOW)).toEqual({ organizationId: 'org_0abc', subject: 'user_123', expiresAt: new Date(good.e * 1000) });
    for (const payload of [
      'not json',
      '[1,2]',
      'null',
      { ...good, o: 42 },
      { ...good, o: '' },
      { ...good, s: 'user 123' },
      { ...good, s: '{data.user_id}' },
      { ...good, s: 'a'.repeat(201) },
      { ...good, s: '' },
      { ...good, e: String(good.e) },
      { ...good, e: good.e + 0.5 },
      { ...good, n: 7 },
      { o: good.o, s: good.s, e: good.e },
      { ...good, admin: true },
    ]) {
      expect([payload, sut.verify(signedPayload(mocks.current, payload), NOW)]).toEqual([payload, null]);
    }
  });

  it('will not mint a token it could not read back', () => {
    const { sut } = setup();
    expect(() => sut.mint({ ...GRANT, subject: 'has space' }, NOW)).toThrow('Not a subject');
    expect(() => sut.mint({ ...GRANT, organizationId: '' }, NOW)).toThrow('Not an organization id');
    expect(() => sut.mint({ ...GRANT, ttlSeconds: 1.5 }, NOW)).toThrow('Not a number of seconds');
  });
});
