import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** The length of an encryption key: AES-256. */
export const ENCRYPTION_KEY_BYTES = 32;

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PREFIX = 'sealed:v1:';
const SEALED = /^sealed:v1:([0-9a-f]{12}):([A-Za-z0-9_-]+)$/;

/**
 * Where a secret is stored: its row (a destination id) and its field (`['secret']`,
 * `['config', 'headers', 'authorization']`). A sealed value opens only in the place it was
 * sealed for, so it cannot be copied into another row or field.
 */
export type SecretPlace = { row: string; field: readonly string[] };

/** The keys a process holds: the current one seals; either opens. */
export type EncryptionKeys = { current: Buffer; previous?: Buffer };

/** A sealed value that cannot be opened; the message names the key and never holds the value. */
export class SecretUnreadableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretUnreadableError';
  }
}

/** A key's id: the start of a hash of it, stored beside every value it seals (it tells nothing of the key). */
export function encryptionKeyId(key: Buffer): string {
  return createHash('sha256').update('dispatch encryption key id\0').update(key).digest('hex').slice(0, 12);
}

/** The field as a dotted path, for messages: `config.headers.authorization`. */
export function fieldName(field: readonly string[]): string {
  return field.join('.');
}

/**
 * Authenticated encryption (AES-256-GCM) of secrets kept in the database. A sealed value is
 * `sealed:v1:<key id>:<base64url of iv, ciphertext and tag>`; its place (row and field) is
 * bound in as associated data.
 */
export class SecretBox {
  /** The id of the key new values are sealed with. */
  readonly keyId: string;
  readonly previousKeyId: string | undefined;
  private readonly keys = new Map<string, Buffer>();

  constructor(keys: EncryptionKeys) {
    for (const key of [keys.current, keys.previous]) {
      if (key !== undefined && key.length !== ENCRYPTION_KEY_BYTES) throw new Error(`an encryption key must be ${ENCRYPTION_KEY_BYTES} bytes`);
    }
    this.keyId = encryptionKeyId(keys.current);
    this.previousKeyId = keys.previous ? encryptionKeyId(keys.previous) : undefined;
    if (keys.previous && this.previousKeyId) this.keys.set(this.previousKeyId, keys.previous);
    this.keys.set(this.keyId, keys.current);
  }

  /** True when `value` has the shape of a sealed value (whatever key sealed it). */
  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && SEALED.test(value);
  }

  /** The id of the key that sealed `sealed`. */
  static keyIdOf(sealed: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new SecretUnreadableError('the value is not encrypted');
    return match[1];
  }

  seal(plaintext: string, place: SecretPlace): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.keys.get(this.keyId) as Buffer, iv);
    cipher.setAAD(associatedData(this.keyId, place));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${PREFIX}${this.keyId}:${Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /** The plaintext of a value sealed for `place`; throws a SecretUnreadableError naming the key otherwise. */
  open(sealed: string, place: SecretPlace): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new SecretUnreadableError('the value is not encrypted (run the migrations: npm run db:migrate)');
    const [, keyId, payload] = match;
    const key = this.keys.get(keyId);
    if (!key) {
      const known =
        `DISPATCH_ENCRYPTION_KEY is key ${this.keyId}` +
        (this.previousKeyId ? `, DISPATCH_ENCRYPTION_KEY_PREVIOUS is key ${this.previousKeyId}` : ', DISPATCH_ENCRYPTION_KEY_PREVIOUS is unset');
      throw new SecretUnreadableError(`it is encrypted with key ${keyId}, which this process does not hold (${known})`);
    }
    const bytes = Buffer.from(payload, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new SecretUnreadableError(`it does not decrypt with key ${keyId}: the value is cut short`);
    const decipher = createDecipheriv(ALGORITHM, key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(associatedData(keyId, place));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadableError(`it does not decrypt with key ${keyId}: the value was altered or belongs to another destination or field`);
    }
  }

  /** True when `sealed` was sealed with the current key. */
  isCurrent(sealed: string): boolean {
    return SecretBox.isSealed(sealed) && SecretBox.keyIdOf(sealed) === this.keyId;
  }
}

function associatedData(keyId: string, place: SecretPlace): Buffer {
  return Buffer.from(JSON.stringify(['dispatch-secret', 1, keyId, place.row, ...place.field]), 'utf8');
}
