import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { hashApiKey } from '@dispatch/domain';
import { Caller, LAST_USED_PRECISION_MS, OrganizationRepository } from '@dispatch/db';
import { duplicateConnection, REDIS, RedisConnection } from '@dispatch/queue';

const CACHE_MS = 10_000;
const CACHE_MAX = 10_000;

/** Pub/sub channel on which an API process tells the others that a key was revoked (the message: its id). */
export function revokedKeysChannel(prefix: string): string {
  return `${prefix}:api-key-revoked`;
}

/**
 * Looks API keys up by their hash. Answers are remembered for a few seconds, but only while
 * this process listens for revocations on Redis: a key revoked by any API process is forgotten
 * at once, and while the channel is not heard every request reads the database.
 * Records each key's use (`lastUsedAt`) at most once a minute per key and process.
 */
@Injectable()
export class ApiKeyAuthenticator implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('api-keys');
  private readonly cache = new Map<string, { caller: Caller | null; until: number }>();
  /** When this process last recorded each key's use. */
  private readonly useRecordedAt = new Map<string, number>();
  private readonly channel: string;
  private subscriber: RedisConnection | undefined;
  private listening = false;

  constructor(
    private readonly organizations: OrganizationRepository,
    @Inject(REDIS) private readonly redis: RedisConnection,
    @Inject(DISPATCH_CONFIG) config: DispatchConfig,
  ) {
    this.channel = revokedKeysChannel(config.queuePrefix);
  }

  onModuleInit(): void {
    const subscriber = duplicateConnection(this.redis, { connectionName: 'dispatch-api-keys', autoResubscribe: false });
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('close', () => {
      this.listening = false;
    });
    // Subscribed again after every reconnect; what was remembered may have been revoked meanwhile.
    subscriber.on('ready', () => {
      subscriber.subscribe(this.channel).then(
        () => {
          this.cache.clear();
          this.listening = true;
        },
        () => undefined,
      );
    });
    subscriber.on('message', (_channel: string, apiKeyId: string) => this.forget(apiKeyId));
  }

  onModuleDestroy(): void {
    this.listening = false;
    this.subscriber?.disconnect();
  }

  async authenticate(key: string): Promise<Caller | null> {
    const hash = hashApiKey(key);
    const now = Date.now();
    const cached = this.listening ? this.cache.get(hash) : undefined;
    const caller = cached && cached.until > now ? cached.caller : await this.organizations.findCaller(hash);
    if (!cached || cached.until <= now) {
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      if (this.listening) this.cache.set(hash, { caller, until: now + CACHE_MS });
    }
    if (caller) await this.recordUse(caller.apiKeyId, now);
    return caller;
  }

  /** After a key was revoked: forgotten here at once, and in every other API process told over Redis. */
  async revoked(apiKeyId: string): Promise<void> {
    this.forget(apiKeyId);
    if (this.redis.status !== 'ready') {
      this.logger.warn(`Redis is unreachable: other API processes learn that key ${apiKeyId} was revoked when they next read it (within ${CACHE_MS / 1000} s)`);
      return;
    }
    await this.redis.publish(this.channel, apiKeyId);
  }

  /** The key in `Authorization: Bearer <key>`, or null. */
  static bearerKey(authorization: string | undefined): string | null {
    const [scheme, value] = (authorization ?? '').split(' ', 2);
    return scheme.toLowerCase() === 'bearer' && value?.trim() ? value.trim() : null;
  }

  /** The password of `Authorization: Basic …` (how a browser sends a key it was asked for), or null. */
  static basicPassword(authorization: string | undefined): string | null {
    const [scheme, value] = (authorization ?? '').split(' ', 2);
    if (scheme.toLowerCase() !== 'basic' || !value) return null;
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : null;
  }

  private forget(apiKeyId: string): void {
    for (const [hash, entry] of this.cache) if (entry.caller?.apiKeyId === apiKeyId) this.cache.delete(hash);
  }

  /**
   * Writes `lastUsedAt` when this process has not for a minute, before the request goes on (so
   * a key's first use is listed as soon as it is answered). A failed write does not fail the
   * request: it is tried again at the key's next use.
   */
  private async recordUse(apiKeyId: string, now: number): Promise<void> {
    if (now - (this.useRecordedAt.get(apiKeyId) ?? 0) < LAST_USED_PRECISION_MS) return;
    if (this.useRecordedAt.size >= CACHE_MAX) this.useRecordedAt.clear();
    this.useRecordedAt.set(apiKeyId, now);
    try {
      await this.organizations.recordUse(apiKeyId, new Date(now));
    } catch (error) {
      this.useRecordedAt.delete(apiKeyId);
      this.logger.debug(`Could not record the use of key ${apiKeyId}: ${(error as Error).message}`);
    }
  }
}
