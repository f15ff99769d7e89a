import { createHmac, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

export function signingSecretProblem(secret: string): string | null {
  if (!secret.startsWith(SECRET_PREFIX)) return `must start with "${SECRET_PREFIX}"`;
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  if (key.length < 24 || key.length > 64) return 'must hold 24 to 64 bytes of base64 after "whsec_"';
  return null;
}

/** `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the secret's bytes. */
export function signPayload(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The `webhook-signature` header: one signature per live secret, space-separated. */
export function signatureHeader(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
  return secrets.map((secret) => signPayload(secret, id, timestampSeconds, body)).join(' ');
}

export type SigningSecrets = { secret: string | null; previousSecret: string | null; previousSecretExpiresAt: Date | null };

/** The secrets a webhook is signed with now: the current one, and the previous one until it expires. */
export function liveSigningSecrets(destination: SigningSecrets, now: Date = new Date()): string[] {
  const live = destination.secret ? [destination.secret] : [];
  if (destination.previousSecret && destination.previousSecretExpiresAt && destination.previousSecretExpiresAt > now) live.push(destination.previousSecret);
  return live;
}

const SECRET_SHAPES = /\b(whsec_[A-Za-z0-9+/=]+|dsp_[A-Za-z0-9_-]+)/g;

/** The text with anything shaped like a signing secret or an API key masked, for logs. */
export function redactSecrets(text: string): string {
  return text.replace(SECRET_SHAPES, (secret) => `${secret.slice(0, secret.indexOf('_') + 1)}…redacted`);
}
