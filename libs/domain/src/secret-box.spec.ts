import { randomBytes } from 'node:crypto';
import { encryptionKeyId, SecretBox, SecretPlace, SecretUnreadableError } from './secret-box';

const authorization: SecretPlace = { row: 'dst_A', field: ['config', 'headers', 'authorization'] };
const VALUE = 'Bearer s3cr3t-token-value';

function setup() {
  const keys = { a: randomBytes(32), b: randomBytes(32) };
  return { sut: new SecretBox({ current: keys.a }), keys };
}

/** The sealed value with one byte of its payload changed. */
function tampered(sealed: string, at: number): string {
  const [prefix, version, keyId, payload] = sealed.split(':');
  const bytes = Buffer.from(payload, 'base64url');
  bytes[at] ^= 0x01;
  return [prefix, version, keyId, bytes.toString('base64url')].join(':');
}

function failure(open: () => unknown): Error {
  try {
    open();
  } catch (error) {
    return error as Error;
  }
  throw new Error('it opened');
}

describe('SecretBox', () => {
  it('seals a value so that it opens again in its place, and nothing of it shows', () => {
    const { sut, keys } = setup();
    const sealed = sut.seal(VALUE, authorization);
    expect(sealed).toMatch(new RegExp(`^sealed:v1:${encryptionKeyId(keys.a)}:[A-Za-z0-9_-]+$`));
    expect(sealed).not.toContain('s3cr3t');
    expect(sealed).not.toContain(Buffer.from(VALUE).toString('base64'));
    expect(sut.open(sealed, authorization)).toBe(VALUE);
    expect(SecretBox.isSealed(sealed)).toBe(true);
    expect(SecretBox.isSealed(VALUE)).toBe(false);
  });

  it('seals the same value differently each time (a fresh IV)', () => {
    const { sut } = setup();
    expect(sut.seal(VALUE, authorization)).not.toBe(sut.seal(VALUE, authorization));
  });

  it.each([
    ['the IV', 0],
    ['the ciphertext', 14],
    ['the tag', -1],
  ])('refuses a value with a changed %s', (_part, at) => {
    const { sut } = setup();
    const sealed = sut.seal(VALUE, authorization);
    const length = Buffer.from(sealed.split(':')[3], 'base64url').length;
    const error = failure(() => sut.open(tampered(sealed, at < 0 ? length + at : at), authorization));
    expect(error).toBeInstanceOf(SecretUnreadableError);
    expect(error.message).toMatch(/was altered or belongs to another destination or field/);
  });

  it('refuses a value moved to another row or another field', () => {
    const { sut } = setup();
    const sealed = sut.seal(VALUE, authorization);
    expect(() => sut.open(sealed, { ...authorization, row: 'dst_B' })).toThrow(/belongs to another destination or field/);
    expect(() => sut.open(sealed, { row: 'dst_A', field: ['config', 'headers', 'cookie'] })).toThrow(/belongs to another destination or field/);
    expect(() => sut.open(sealed, { row: 'dst_A', field: ['secret'] })).toThrow(SecretUnreadableError);
  });

  it('refuses a value whose key id was changed to another key it holds', () => {
    const { keys } = setup();
    const sut = new SecretBox({ current: keys.b, previous: keys.a });
    const sealed = new SecretBox({ current: keys.a }).seal(VALUE, authorization);
    const relabelled = sealed.replace(encryptionKeyId(keys.a), encryptionKeyId(keys.b));
    expect(() => sut.open(relabelled, authorization)).toThrow(/does not decrypt with key/);
  });

  it('names the key a value was sealed with, and the keys it holds, when it does not hold that key; never the value', () => {
    const { sut, keys } = setup();
    const sealed = sut.seal(VALUE, authorization);
    const other = new SecretBox({ current: keys.b });
    const error = failure(() => other.open(sealed, authorization));
    expect(error).toBeInstanceOf(SecretUnreadableError);
    expect(error.message).toBe(
      `it is encrypted with key ${encryptionKeyId(keys.a)}, which this process does not hold (DISPATCH_ENCRYPTION_KEY is key ${encryptionKeyId(keys.b)}, DISPATCH_ENCRYPTION_KEY_PREVIOUS is unset)`,
    );
    expect(error.message).not.toContain('s3cr3t');
  });

  it('opens values sealed with the previous key, and seals new ones with the current key', () => {
    const { keys } = setup();
    const old = new SecretBox({ current: keys.a }).seal(VALUE, authorization);
    const sut = new SecretBox({ current: keys.b, previous: keys.a });
    expect(sut.open(old, authorization)).toBe(VALUE);
    expect(sut.isCurrent(old)).toBe(false);
    const resealed = sut.seal(sut.open(old, authorization), authorization);
    expect(sut.isCurrent(resealed)).toBe(true);
    expect(SecretBox.keyIdOf(resealed)).toBe(encryptionKeyId(keys.b));
    expect(() => new SecretBox({ current: keys.b }).open(old, authorization)).toThrow(SecretUnreadableError);
  });

  it('says a value in clear text is not encrypted', () => {
    const { sut } = setup();
    expect(() => sut.open(VALUE, authorization)).toThrow('the value is not encrypted (run the migrations: npm run db:migrate)');
  });

  it('takes only 32-byte keys', () => {
    expect(() => new SecretBox({ current: randomBytes(16) })).toThrow('an encryption key must be 32 bytes');
  });
});
