import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DispatchConfig, loadConfig as loadEnvironment, loadEncryptionKeys } from './config';

/** A DISPATCH_ENCRYPTION_KEY (32 bytes in base64). */
const KEY = Buffer.alloc(32, 7);

/** The configuration of `environment` plus DISPATCH_ENCRYPTION_KEY, the one variable without a default. */
function loadConfig(environment: Record<string, string>): DispatchConfig {
  return loadEnvironment({ DISPATCH_ENCRYPTION_KEY: KEY.toString('base64'), ...environment });
}

/** The variables an error message names: `Invalid configuration: A: why; B: why`. */
function namedIn(environment: Record<string, string>): string[] {
  try {
    loadConfig(environment);
  } catch (error) {
    const message = (error as Error).message;
    expect(message).toMatch(/^Invalid configuration: /);
    return [...message.matchAll(/(?:^Invalid configuration: |; )([A-Z][A-Z0-9_]*): /g)].map((match) => match[1]).sort();
  }
  throw new Error(`${JSON.stringify(environment)} was accepted`);
}

/** The Configuration table of the README: variable → its Default cell. */
function readmeDefaults(): Map<string, string> {
  const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const section = readme.split('\n## Configuration\n')[1].split('\n## ')[0];
  const rows = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| (.+?) \|/gm)];
  return new Map(rows.map((row) => [row[1], row[2].trim()]));
}

/** A Default cell as a value: `3000` → 3000, `log` → 'log', "unset (…)" or "required (…)" → undefined. */
function defaultValue(cell: string): string | number | undefined {
  if (cell.startsWith('unset') || cell.startsWith('required')) return undefined;
  const quoted = /^`([^`]*)`$/.exec(cell);
  if (!quoted) throw new Error(`README default cell not understood: ${cell}`);
  return /^\d+$/.test(quoted[1]) ? Number(quoted[1]) : quoted[1];
}

describe('configuration', () => {
  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['LOG_LEVEL', 'loud'],
    ['DISPATCH_WORKER_CONCURRENCY', '0'],
    ['DISPATCH_WORKER_CONCURRENCY', '2.5'],
    ['DISPATCH_RESPONSE_MAX_BYTES', '-1'],
    ['DATABASE_URL', 'not a url'],
    ['DISPATCH_QUEUE_PREFIX', 'a:b'],
    ['DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE', '-1'],
    ['DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE', '1.5'],
    ['DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE', 'many'],
    ['DISPATCH_EGRESS_ALLOW', '127.0.0.1'],
    ['DISPATCH_EGRESS_ALLOW', '127.0.0.0/8,localhost'],
    ['DISPATCH_EGRESS_ALLOW', '10.0.0.0/33'],
    ['DISPATCH_TRUST_PROXY', '127.0.0.1'],
    ['DISPATCH_REQUEST_TIMEOUT_MS', '0'],
    ['DISPATCH_QUEUES_ALLOW_RETRIES', 'yes'],
    ['DISPATCH_RETENTION_DAYS', '-1'],
    ['DISPATCH_FILES_MAX_BYTES', '0'],
    ['DISPATCH_PUBLIC_URL', 'ftp://example.com'],
    ['DISPATCH_FILES_S3_FORCE_PATH_STYLE', 'yes'],
    ['DISPATCH_FILES_S3_ENDPOINT', 's3.example.com'],
    ['DISPATCH_RETENTION_DAYS', '1.5'],
    ['DISPATCH_RETENTION_DAYS', '36501'],
    ['DISPATCH_RETENTION_BATCH', '0'],
    ['DISPATCH_RETENTION_SWEEP_MS', '0'],
    ['DISPATCH_AUTO_DISABLE_AFTER_MS', '-1'],
    ['DISPATCH_AUTO_DISABLE_AFTER_MS', 'soon'],
    ['DISPATCH_REDIS_CLUSTER_NODES', '127.0.0.1'],
    ['DISPATCH_REDIS_CLUSTER_NODES', '127.0.0.1:7000,127.0.0.1:70000'],
    ['DISPATCH_REDIS_CLUSTER_NODES', 'redis://127.0.0.1:7000'],
    ['DISPATCH_NATS_URL', '127.0.0.1:4222'],
    ['DISPATCH_NATS_INGEST_STREAM', 'a.b'],
    ['DISPATCH_NATS_INGEST_SUBJECTS', 'ingest'],
    ['DISPATCH_NATS_INGEST_SUBJECTS', 'ingest.*'],
    ['DISPATCH_NATS_INGEST_SUBJECTS', '>'],
    ['DISPATCH_NATS_INGEST_SUBJECTS', 'ingest.*.>'],
    ['DISPATCH_NATS_INGEST_MAX_DELIVER', '0'],
    ['DISPATCH_NATS_INGEST_ACK_WAIT_MS', '0'],
  ])('refuses %s=%s with a message naming it (and only it)', (name, value) => {
    expect(namedIn({ [name]: value })).toEqual([name]);
  });

  it('requires the keys of the file bucket when DISPATCH_FILES_S3_BUCKET names one', () => {
    expect(namedIn({ DISPATCH_FILES_S3_BUCKET: 'files' })).toEqual(['DISPATCH_FILES_S3_ACCESS_KEY_ID', 'DISPATCH_FILES_S3_SECRET_ACCESS_KEY']);
    expect(namedIn({ DISPATCH_FILES_S3_BUCKET: 'files', DISPATCH_FILES_S3_ACCESS_KEY_ID: 'AKIA' })).toEqual(['DISPATCH_FILES_S3_SECRET_ACCESS_KEY']);
  });

  it('names every bad variable at once', () => {
    const bad = { PORT: 'abc', LOG_LEVEL: 'loud', DISPATCH_WORKER_CONCURRENCY: '0', DISPATCH_BOOTSTRAP_KEY: 'short', HOST: '127.0.0.1' };
    expect(namedIn(bad)).toEqual(['DISPATCH_BOOTSTRAP_KEY', 'DISPATCH_WORKER_CONCURRENCY', 'LOG_LEVEL', 'PORT']);
  });

  it('refuses a DISPATCH_BOOTSTRAP_KEY shorter than 16 characters', () => {
    expect(namedIn({ DISPATCH_BOOTSTRAP_KEY: 'k'.repeat(15) })).toEqual(['DISPATCH_BOOTSTRAP_KEY']);
    expect(loadConfig({ DISPATCH_BOOTSTRAP_KEY: 'k'.repeat(16) }).bootstrapKey).toBe('k'.repeat(16));
  });

  it('reads DISPATCH_EGRESS_ALLOW as a list of CIDRs, spaces and blanks ignored', () => {
    expect(loadConfig({ DISPATCH_EGRESS_ALLOW: ' 127.0.0.0/8, ::1/128,,10.1.0.0/16 ' }).egressAllow).toEqual(['127.0.0.0/8', '::1/128', '10.1.0.0/16']);
    expect(loadConfig({ DISPATCH_EGRESS_ALLOW: '' }).egressAllow).toEqual([]);
  });

  it('reads DISPATCH_RETENTION_DAYS, 0 meaning history is kept forever', () => {
    expect(loadConfig({ DISPATCH_RETENTION_DAYS: '0' }).retention.days).toBe(0);
    expect(loadConfig({ DISPATCH_RETENTION_DAYS: '7', DISPATCH_RETENTION_BATCH: '50' }).retention).toMatchObject({ days: 7, batch: 50 });
  });

  it('reads DISPATCH_AUTO_DISABLE_AFTER_MS, 5 days by default, 0 meaning never', () => {
    expect(loadConfig({}).autoDisableAfterMs).toBe(5 * 24 * 3600 * 1000);
    expect(loadConfig({ DISPATCH_AUTO_DISABLE_AFTER_MS: '0' }).autoDisableAfterMs).toBe(0);
    expect(loadConfig({ DISPATCH_AUTO_DISABLE_AFTER_MS: '1500' }).autoDisableAfterMs).toBe(1500);
  });

  it('reads the NATS ingest settings: off without DISPATCH_NATS_URL (an empty one too), subjects of any prefix', () => {
    expect(loadConfig({ DISPATCH_NATS_URL: '' }).natsIngest.url).toBeUndefined();
    expect(loadConfig({ DISPATCH_NATS_URL: 'nats://127.0.0.1:4222', DISPATCH_NATS_INGEST_SUBJECTS: 'acme.events.>' }).natsIngest).toMatchObject({
      url: 'nats://127.0.0.1:4222',
      subjects: 'acme.events.>',
    });
  });

  it('reads DISPATCH_TRUST_PROXY as a list of CIDRs, none by default', () => {
    expect(loadConfig({ DISPATCH_TRUST_PROXY: '127.0.0.1/32, ::1/128' }).trustedProxies).toEqual(['127.0.0.1/32', '::1/128']);
    expect(loadConfig({}).trustedProxies).toEqual([]);
  });

  it('reads DISPATCH_REDIS_CLUSTER_NODES as host:port nodes, none by default', () => {
    expect(loadConfig({ DISPATCH_REDIS_CLUSTER_NODES: ' redis-1:6379, 127.0.0.1:7001,,[::1]:7002 ' }).redisClusterNodes).toEqual([
      { host: 'redis-1', port: 6379 },
      { host: '127.0.0.1', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    expect(loadConfig({}).redisClusterNodes).toEqual([]);
  });

  it('takes 0 as a rate limit that is off', () => {
    expect(loadConfig({ DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE: '0', DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE: '0' }).rateLimit).toEqual({
      perKeyPerMinute: 0,
      perAddressPerMinute: 0,
    });
  });

  it('reads DISPATCH_QUEUES_ALLOW_RETRIES as true or false', () => {
    expect(loadConfig({ DISPATCH_QUEUES_ALLOW_RETRIES: 'true' }).queues).toEqual({ allowRetries: true });
    expect(loadConfig({ DISPATCH_QUEUES_ALLOW_RETRIES: 'false' }).queues).toEqual({ allowRetries: false });
  });

  it('requires DISPATCH_ENCRYPTION_KEY, 32 bytes in base64, and never repeats a bad one', () => {
    expect(() => loadEnvironment({})).toThrow(/^Invalid configuration: DISPATCH_ENCRYPTION_KEY: is required: 32 random bytes in base64/);
    for (const [name, bad] of [
      ['DISPATCH_ENCRYPTION_KEY', Buffer.alloc(16, 1).toString('base64')],
      ['DISPATCH_ENCRYPTION_KEY', 'not base64 at all, but long enough to be 32 bytes!'],
      ['DISPATCH_ENCRYPTION_KEY_PREVIOUS', Buffer.alloc(31, 1).toString('base64')],
    ]) {
      expect(namedIn({ [name]: bad })).toEqual([name]);
      expect(() => loadConfig({ [name]: bad })).toThrow(/must be 32 random bytes in base64/);
      expect(() => loadConfig({ [name]: bad })).not.toThrow(bad);
    }
  });

  it('reads the storage directories (absolute paths, blanks ignored) and refuses a relative one or parts under 5 MiB', () => {
    expect(loadConfig({ DISPATCH_STORAGE_DIRECTORIES: ' /srv/exports, ,/var/dispatch/ ' }).storage.directories).toEqual(['/srv/exports', '/var/dispatch']);
    expect(namedIn({ DISPATCH_STORAGE_DIRECTORIES: 'exports' })).toEqual(['DISPATCH_STORAGE_DIRECTORIES']);
    expect(() => loadConfig({ DISPATCH_STORAGE_DIRECTORIES: 'exports' })).toThrow('"exports" is not an absolute path');
    expect(namedIn({ DISPATCH_STORAGE_PART_BYTES: String(5 * 1024 * 1024 - 1) })).toEqual(['DISPATCH_STORAGE_PART_BYTES']);
    expect(loadConfig({ DISPATCH_STORAGE_PART_BYTES: String(16 * 1024 * 1024) }).storage.partBytes).toBe(16 * 1024 * 1024);
  });

  it('reads the encryption keys, standard or URL-safe base64, an empty previous key being none', () => {
    const previous = Buffer.alloc(32, 0xfb);
    expect(loadConfig({ DISPATCH_ENCRYPTION_KEY_PREVIOUS: previous.toString('base64url') }).encryption).toEqual({ current: KEY, previous });
    expect(loadConfig({ DISPATCH_ENCRYPTION_KEY_PREVIOUS: '' }).encryption).toEqual({ current: KEY, previous: undefined });
    // The scripts read only the keys: none when unset, a bad one named.
    expect(loadEncryptionKeys({})).toBeUndefined();
    expect(loadEncryptionKeys({ DISPATCH_ENCRYPTION_KEY: KEY.toString('base64'), PORT: 'abc' })).toEqual({ current: KEY, previous: undefined });
    expect(() => loadEncryptionKeys({ DISPATCH_ENCRYPTION_KEY: 'short' })).toThrow(/^Invalid configuration: DISPATCH_ENCRYPTION_KEY: must be/);
  });

  it('refuses a pong wait no longer than the ping interval, naming both', () => {
    expect(() => loadConfig({ DISPATCH_WS_PING_MS: '60000', DISPATCH_WS_PONG_WAIT_MS: '60000' })).toThrow(
      'DISPATCH_WS_PONG_WAIT_MS: must be more than DISPATCH_WS_PING_MS (60000)',
    );
    expect(loadConfig({ DISPATCH_WS_PING_MS: '100', DISPATCH_WS_PONG_WAIT_MS: '400' }).live).toMatchObject({ pingMs: 100, pongWaitMs: 400 });
  });

  it('defaults to what the README table lists', () => {
    const listed = readmeDefaults();
    const used = new Set<string>();
    const readme = (name: string) => {
      if (!listed.has(name)) throw new Error(`README lists no ${name}`);
      used.add(name);
      return defaultValue(listed.get(name) as string);
    };
    const expected: DispatchConfig = {
      port: readme('PORT') as number,
      host: readme('HOST') as string,
      databaseUrl: readme('DATABASE_URL') as string,
      databasePool: readme('DISPATCH_DATABASE_POOL') as number,
      redisUrl: readme('REDIS_URL') as string,
      redisClusterNodes: readme('DISPATCH_REDIS_CLUSTER_NODES') === undefined ? [] : [{ host: 'a README default the code does not know', port: 0 }],
      bootstrapKey: readme('DISPATCH_BOOTSTRAP_KEY') as undefined,
      encryption: {
        current: readme('DISPATCH_ENCRYPTION_KEY') === undefined ? KEY : Buffer.from('a README default the code does not know'),
        previous: readme('DISPATCH_ENCRYPTION_KEY_PREVIOUS') as undefined,
      },
      rateLimit: {
        perKeyPerMinute: readme('DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE') as number,
        perAddressPerMinute: readme('DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE') as number,
      },
      queuePrefix: readme('DISPATCH_QUEUE_PREFIX') as string,
      // Left unset: the API then serves the README's apps/admin/dist, found from its own location (apps/api/src/app.ts).
      adminDir: readme('DISPATCH_ADMIN_DIR') === 'apps/admin/dist' ? undefined : 'a README default the code does not know',
      worker: {
        concurrency: readme('DISPATCH_WORKER_CONCURRENCY') as number,
        idleMs: readme('DISPATCH_WORKER_IDLE_MS') as number,
        scanMs: readme('DISPATCH_WORKER_SCAN_MS') as number,
        maxQueues: readme('DISPATCH_WORKER_MAX_QUEUES') as number,
        sliceMs: readme('DISPATCH_WORKER_SLICE_MS') as number,
        metricsPort: readme('DISPATCH_METRICS_PORT') as number,
        reconcileMs: readme('DISPATCH_RECONCILE_MS') as number,
        drainTimeoutMs: readme('DISPATCH_DRAIN_TIMEOUT_MS') as number,
        lockMs: readme('DISPATCH_LOCK_MS') as number,
      },
      attempts: { timeoutMs: readme('DISPATCH_WEBHOOK_TIMEOUT_MS') as number, replyMaxBytes: readme('DISPATCH_RESPONSE_MAX_BYTES') as number },
      alerts: { evaluateMs: readme('DISPATCH_ALERTS_EVALUATE_MS') as number },
      egressAllow: readme('DISPATCH_EGRESS_ALLOW') === undefined ? [] : ['a README default the code does not know'],
      files: { directory: readme('DISPATCH_FILES_DIR') as string, maxBytes: readme('DISPATCH_FILES_MAX_BYTES') as number },
      storage: {
        directories: readme('DISPATCH_STORAGE_DIRECTORIES') === undefined ? [] : ['a README default the code does not know'],
        partBytes: readme('DISPATCH_STORAGE_PART_BYTES') as number,
      },
      publicUrl: String(readme('DISPATCH_PUBLIC_URL') ?? `http://localhost:${readme('PORT')}`),
      trustedProxies: readme('DISPATCH_TRUST_PROXY') === undefined ? [] : ['a README default the code does not know'],
      retention: {
        days: readme('DISPATCH_RETENTION_DAYS') as number,
        batch: readme('DISPATCH_RETENTION_BATCH') as number,
        sweepMs: readme('DISPATCH_RETENTION_SWEEP_MS') as number,
      },
      autoDisableAfterMs: readme('DISPATCH_AUTO_DISABLE_AFTER_MS') as number,
      natsIngest: {
        url: readme('DISPATCH_NATS_URL') as undefined,
        stream: readme('DISPATCH_NATS_INGEST_STREAM') as string,
        subjects: readme('DISPATCH_NATS_INGEST_SUBJECTS') as string,
        maxDeliver: readme('DISPATCH_NATS_INGEST_MAX_DELIVER') as number,
        ackWaitMs: readme('DISPATCH_NATS_INGEST_ACK_WAIT_MS') as number,
      },
      live: {
        replay: readme('DISPATCH_WS_REPLAY') as number,
        replayTtlSeconds: readme('DISPATCH_WS_REPLAY_TTL_SECONDS') as number,
        pingMs: readme('DISPATCH_WS_PING_MS') as number,
        pongWaitMs: readme('DISPATCH_WS_PONG_WAIT_MS') as number,
        sendQueue: readme('DISPATCH_WS_SEND_QUEUE') as number,
        reorderWaitMs: readme('DISPATCH_WS_REORDER_WAIT_MS') as number,
        presenceDebounceMs: readme('DISPATCH_WS_PRESENCE_DEBOUNCE_MS') as number,
      },
      requestTimeoutMs: readme('DISPATCH_REQUEST_TIMEOUT_MS') as number,
      queues: { allowRetries: readme('DISPATCH_QUEUES_ALLOW_RETRIES') === 'true' },
      logLevel: readme('LOG_LEVEL') as DispatchConfig['logLevel'],
      // Unset: pretty, as NODE_ENV is not `production`.
      logFormat: (readme('DISPATCH_LOG_FORMAT') as undefined) ?? 'pretty',
    };
    expect(loadConfig({})).toEqual(expected);
    // The file bucket's settings, which apply once a bucket is named.
    expect(readme('DISPATCH_FILES_S3_BUCKET')).toBeUndefined();
    const keys = { DISPATCH_FILES_S3_ACCESS_KEY_ID: 'AKIA', DISPATCH_FILES_S3_SECRET_ACCESS_KEY: 'secret' };
    expect(readme('DISPATCH_FILES_S3_ACCESS_KEY_ID') ?? readme('DISPATCH_FILES_S3_SECRET_ACCESS_KEY')).toBeUndefined();
    expect(loadConfig({ DISPATCH_FILES_S3_BUCKET: 'files', ...keys }).files.s3).toEqual({
      bucket: 'files',
      region: readme('DISPATCH_FILES_S3_REGION'),
      endpoint: readme('DISPATCH_FILES_S3_ENDPOINT'),
      accessKeyId: 'AKIA',
      secretAccessKey: 'secret',
      forcePathStyle: readme('DISPATCH_FILES_S3_FORCE_PATH_STYLE') === 'true',
      prefix: readme('DISPATCH_FILES_S3_PREFIX'),
    });
    // Every variable the README lists was compared.
    expect([...listed.keys()].filter((name) => !used.has(name))).toEqual([]);
  });
});
