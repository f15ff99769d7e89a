import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { SUBJECT_PATTERN } from './subject';

/** What a stream token grants: the sessions of one subject of one organization, until it expires. */
export type StreamGrant = { organizationId: string; subject: string; expiresAt: Date };

/** The payload a token carries, in its compact JSON: organization, subject, expiry (Unix seconds), nonce. */
type Payload = { o: string; s: string; e: number; n: string };

/** No token this deployment makes is longer: anything longer is refused before any work. */
const MAX_TOKEN_LENGTH = 1024;
const ORGANIZATION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const NONCE = /^[A-Za-z0-9_-]{16}$/;

/**
 * The tokens a device opens a live WebSocket session with (`/v1/stream?token=`): base64url of a
 * compact JSON payload, a dot, and base64url of its HMAC-SHA256 under a key derived from
 * DISPATCH_ENCRYPTION_KEY, so a token cannot be made or changed without the key. Nothing is
 * stored. A token made under the previous key is still read while DISPATCH_ENCRYPTION_KEY_PREVIOUS
 * names it.
 */
export class StreamTokens {
  private readonly keys: Buffer[];

  constructor(encryption: { current: Buffer; previous?: Buffer }) {
    this.keys = [encryption.current, ...(encryption.previous ? [encryption.previous] : [])].map((key) =>
      Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'dispatch stream tokens', 32)),
    );
  }

  /** A token for a subject of an organization, valid `ttlSeconds` from `now` (to the second). */
  mint(grant: { organizationId: string; subject: string; ttlSeconds: number }, now = new Date()): { token: string; expiresAt: Date } {
    if (!ORGANIZATION_ID.test(grant.organizationId)) throw new Error(`Not an organization id: ${JSON.stringify(grant.organizationId)}`);
    if (!SUBJECT_PATTERN.test(grant.subject)) throw new Error(`Not a subject: ${JSON.stringify(grant.subject)}`);
    if (!Number.isSafeInteger(grant.ttlSeconds) || grant.ttlSeconds <= 0) throw new Error(`Not a number of seconds: ${grant.ttlSeconds}`);
    const expires = Math.floor(now.getTime() / 1000) + grant.ttlSeconds;
    const payload: Payload = { o: grant.organizationId, s: grant.subject, e: expires, n: randomBytes(12).toString('base64url') };
    const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return { token: `${encoded}.${mac(this.keys[0], encoded).toString('base64url')}`, expiresAt: new Date(expires * 1000) };
  }

  /** What a token grants, or null when this deployment did not make it, it was changed, or it has expired. */
  verify(token: string, now = new Date()): StreamGrant | null {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
    const [encoded, signature, ...rest] = token.split('.');
    if (rest.length > 0 || !encoded || !signature || !isBase64url(encoded) || !isBase64url(signature)) return null;
    const given = Buffer.from(signature, 'base64url');
    const signed = this.keys.some((key) => {
      const expected = mac(key, encoded);
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
    if (!signed) return null;
    const payload = payloadOf(encoded);
    if (!payload || payload.e * 1000 <= now.getTime()) return null;
    return { organizationId: payload.o, subject: payload.s, expiresAt: new Date(payload.e * 1000) };
  }
}

function mac(key: Buffer, encoded: string): Buffer {
  return createHmac('sha256', key).update(encoded).digest();
}

/** Whether text is base64url exactly as this class writes it (no padding, nothing a decoder would skip). */
function isBase64url(text: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text;
}

function payloadOf(encoded: string): Payload | null {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { o, s, e, n, ...extra } = value as Record<string, unknown>;
  if (Object.keys(extra).length > 0) return null;
  if (typeof o !== 'string' || !ORGANIZATION_ID.test(o)) return null;
  if (typeof s !== 'string' || !SUBJECT_PATTERN.test(s)) return null;
  if (typeof e !== 'number' || !Number.isSafeInteger(e) || e <= 0) return null;
  if (typeof n !== 'string' || !NONCE.test(n)) return null;
  return { o, s, e, n };
}
