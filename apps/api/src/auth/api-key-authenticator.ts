import { Injectable } from '@nestjs/common';
import { hashApiKey } from '@dispatch/domain';
import { Caller, OrganizationRepository } from '@dispatch/db';

const CACHE_MS = 10_000;

/** Looks API keys up by their hash, remembering answers for a few seconds. */
@Injectable()
export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { caller: Caller | null; until: number }>();

  constructor(private readonly organizations: OrganizationRepository) {}

  async authenticate(key: string): Promise<Caller | null> {
    const hash = hashApiKey(key);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.caller;
    const caller = await this.organizations.findCaller(hash);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { caller, until: now + CACHE_MS });
    return caller;
  }

  /** The key in `Authorization: Bearer <key>`, or the password of HTTP Basic auth (for browsers). */
  static keyFrom(authorization: string | undefined): string | null {
    if (!authorization) return null;
    const [scheme, value] = authorization.split(' ', 2);
    if (!value) return null;
    if (scheme.toLowerCase() === 'bearer') return value.trim();
    if (scheme.toLowerCase() === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return colon >= 0 ? decoded.slice(colon + 1) : null;
    }
    return null;
  }
}
