import { createHash, randomBytes } from 'node:crypto';

export const API_KEY_ROLES = ['admin', 'producer', 'viewer'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** A new API key; only its hash is ever stored. */
export function generateApiKey(): string {
  return `dsp_${randomBytes(24).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** What each role may do: admin everything, producer send events and read, viewer read. */
export function roleAllows(role: ApiKeyRole, needed: 'read' | 'produce' | 'admin'): boolean {
  if (role === 'admin') return true;
  if (role === 'producer') return needed !== 'admin';
  return needed === 'read';
}
