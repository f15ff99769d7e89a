import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/** Comma-separated CIDRs (IPv4 in four decimal parts, or IPv6), blanks ignored. */
const cidrList = z
  .string()
  .default('')
  .transform((text) =>
    text
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
  )
  .superRefine((entries, ctx) => {
    for (const entry of entries) {
      if (!ipaddr.IPv4.isValidCIDRFourPartDecimal(entry) && !ipaddr.IPv6.isValidCIDR(entry)) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not a CIDR (write ranges like 127.0.0.0/8,::1/128, separated by commas)` });
      }
    }
  });

/** Comma-separated `host:port` of Redis Cluster nodes (`[v6 address]:port` too), blanks ignored; empty: one Redis server, REDIS_URL. */
const redisNodeList = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const nodes: RedisNode[] = [];
    for (const entry of text.split(',').map((part) => part.trim())) {
      if (entry === '') continue;
      const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(entry);
      const port = match ? Number(match[3]) : 0;
      if (!match || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${entry}" is not host:port (write nodes like redis-1:6379,redis-2:6379, separated by commas)` });
        continue;
      }
      nodes.push({ host: match[1] ?? match[2], port });
    }
    return nodes;
  });

const integer = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Subjects ending in `.>` (`ingest.>`): the organization is the token after the prefix. */
const ingestSubjects = z
  .string()
  .regex(/^[^\s*>.]+(\.[^\s*>.]+)*\.>$/, 'must be a subject prefix followed by ".>" (like ingest.>): the token after the prefix names the organization')
  .default('ingest.>');

/** `true` or `false`. */
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true');

const ENCRYPTION_KEY_HELP = '32 random bytes in base64 (make one with: openssl rand -base64 32)';

/** An AES-256 key: 32 bytes in base64. */
const encryptionKey = z
  .string({ error: (issue) => (issue.input === undefined ? `is required: ${ENCRYPTION_KEY_HELP}` : undefined) })
  .trim()
  .refine((text) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) && Buffer.from(text, 'base64').length === 32, `must be ${ENCRYPTION_KEY_HELP}`)
  .transform((text) => Buffer.from(text, 'base64'));

/** The variables of the keys secrets are encrypted with at rest; an empty previous key is none. */
const encryptionVariables = {
  DISPATCH_ENCRYPTION_KEY: encryptionKey,
  DISPATCH_ENCRYPTION_KEY_PREVIOUS: z.preprocess((text) => (text === '' ? undefined : text), encryptionKey.optional()),
};

const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: z.string().url().default('postgresql://postgres@127.0.0.1:5432/dispatch'),
  DISPATCH_DATABASE_POOL: integer(10),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  DISPATCH_REDIS_CLUSTER_NODES: redisNodeList,
  DISPATCH_BOOTSTRAP_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  ...encryptionVariables,
  DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE: z.coerce.number().int().min(0).default(60_000),
  DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE: z.coerce.number().int().min(0).default(300),
  DISPATCH_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'only letters, digits, "-" and "_"')
    .default('dispatch'),
  DISPATCH_ADMIN_DIR: z.string().optional(),
  DISPATCH_WORKER_CONCURRENCY: integer(10),
  DISPATCH_WORKER_IDLE_MS: integer(60_000),
  DISPATCH_WORKER_SCAN_MS: integer(5_000),
  DISPATCH_WORKER_MAX_QUEUES: integer(100),
  DISPATCH_WORKER_SLICE_MS: integer(1_000),
  DISPATCH_RECONCILE_MS: integer(10_000),
  DISPATCH_ALERTS_EVALUATE_MS: integer(60_000),
  DISPATCH_DRAIN_TIMEOUT_MS: integer(30_000),
  DISPATCH_LOCK_MS: integer(30_000),
  DISPATCH_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
  DISPATCH_RETENTION_BATCH: integer(500),
  DISPATCH_RETENTION_SWEEP_MS: integer(3_600_000),
  DISPATCH_AUTO_DISABLE_AFTER_MS: z.coerce.number().int().min(0).default(432_000_000),
  DISPATCH_WEBHOOK_TIMEOUT_MS: integer(15_000),
  DISPATCH_RESPONSE_MAX_BYTES: integer(4096),
  DISPATCH_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  DISPATCH_REQUEST_TIMEOUT_MS: integer(30_000),
  DISPATCH_QUEUES_ALLOW_RETRIES: flag(false),
  DISPATCH_EGRESS_ALLOW: cidrList,
  DISPATCH_FILES_DIR: z.string().min(1).default('.dispatch/files'),
  DISPATCH_FILES_MAX_BYTES: integer(100 * 1024 * 1024),
  DISPATCH_STORAGE_DIRECTORIES: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .superRefine((entries, ctx) => {
      for (const entry of entries) if (!path.isAbsolute(entry)) ctx.addIssue({ code: 'custom', message: `"${entry}" is not an absolute path` });
    }),
  DISPATCH_STORAGE_PART_BYTES: z.coerce
    .number()
    .int()
    .min(5 * 1024 * 1024, { message: 'must be at least 5242880 (5 MiB, the smallest part S3 takes)' })
    .default(8 * 1024 * 1024),
  DISPATCH_FILES_S3_BUCKET: z.preprocess((text) => (text === '' ? undefined : text), z.string().min(1).optional()),
  DISPATCH_FILES_S3_REGION: z.string().min(1).default('us-east-1'),
  DISPATCH_FILES_S3_ENDPOINT: z.preprocess(
    (text) => (text === '' ? undefined : text),
    z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
  ),
  DISPATCH_FILES_S3_ACCESS_KEY_ID: z.preprocess((text) => (text === '' ? undefined : text), z.string().min(1).optional()),
  DISPATCH_FILES_S3_SECRET_ACCESS_KEY: z.preprocess((text) => (text === '' ? undefined : text), z.string().min(1).optional()),
  DISPATCH_FILES_S3_FORCE_PATH_STYLE: flag(false),
  DISPATCH_FILES_S3_PREFIX: z.string().default(''),
  DISPATCH_PUBLIC_URL: z.preprocess(
    (text) => (text === '' ? undefined : text),
    z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).optional(),
  ),
  DISPATCH_TRUST_PROXY: cidrList,
  DISPATCH_NATS_URL: z.preprocess((text) => (text === '' ? undefined : text), z.string().url().optional()),
  DISPATCH_NATS_INGEST_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'only letters, digits, "-" and "_"')
    .default('DISPATCH_INGEST'),
  DISPATCH_NATS_INGEST_SUBJECTS: ingestSubjects,
  DISPATCH_NATS_INGEST_MAX_DELIVER: integer(20),
  DISPATCH_NATS_INGEST_ACK_WAIT_MS: integer(30_000),
  DISPATCH_WS_REPLAY: z.coerce.number().int().min(0).max(100_000).default(1000),
  DISPATCH_WS_REPLAY_TTL_SECONDS: integer(86_400),
  DISPATCH_WS_PING_MS: integer(54_000),
  DISPATCH_WS_PONG_WAIT_MS: integer(60_000),
  DISPATCH_WS_SEND_QUEUE: integer(128),
  DISPATCH_WS_REORDER_WAIT_MS: integer(250),
  DISPATCH_WS_PRESENCE_DEBOUNCE_MS: z.coerce.number().int().min(0).default(5_000),
  LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  DISPATCH_LOG_FORMAT: z.preprocess((text) => (text === '' ? undefined : text), z.enum(['json', 'pretty']).optional()),
});

export type DispatchConfig = Readonly<{
  port: number;
  host: string;
  databaseUrl: string;
  databasePool: number;
  redisUrl: string;
  /** Nodes of the Redis Cluster Dispatch uses instead of the one server at `redisUrl`; empty: none. */
  redisClusterNodes: readonly RedisNode[];
  bootstrapKey: string | undefined;
  /** The key secrets are encrypted with at rest, and the one before it (still read, during a rotation). */
  encryption: EncryptionKeys;
  /** Requests a minute the API takes from one API key, and from one client address without a valid key; 0: no limit. */
  rateLimit: Readonly<{ perKeyPerMinute: number; perAddressPerMinute: number }>;
  queuePrefix: string;
  adminDir: string | undefined;
  /**
   * `maxQueues`: destination queues consumed at once (one blocking Redis connection each);
   * `sliceMs`: how long one of them keeps its turn while others wait for one.
   */
  worker: Readonly<{
    concurrency: number;
    idleMs: number;
    scanMs: number;
    maxQueues: number;
    sliceMs: number;
    metricsPort: number;
    reconcileMs: number;
    drainTimeoutMs: number;
    lockMs: number;
  }>;
  /** What every kind's attempts may take and keep: the longest an attempt may last, and how much of a peer's reply is kept. */
  attempts: Readonly<{ timeoutMs: number; replyMaxBytes: number }>;
  /** How often the worker evaluates every destination's alert conditions (one worker process at a time). */
  alerts: Readonly<{ evaluateMs: number }>;
  /** The longest a client may take to send the API a request, headers and body. */
  requestTimeoutMs: number;
  /** Bull Board is read-only; `allowRetries` lets it retry, through the API's own retry. */
  queues: Readonly<{ allowRetries: boolean }>;
  /** CIDRs destinations may reach even though they are not public addresses (loopback, private…). */
  egressAllow: readonly string[];
  /** Where uploaded files are kept (`POST /v1/files`), for the deliveries that send them. */
  files: Readonly<{
    directory: string;
    maxBytes: number;
    /** Set when DISPATCH_FILES_S3_BUCKET is: files are objects of that bucket (under `prefix`) instead of in `directory`. */
    s3?: Readonly<{ bucket: string; region: string; endpoint?: string; accessKeyId: string; secretAccessKey: string; forcePathStyle: boolean; prefix: string }>;
  }>;
  /** Storage destinations: the directories the filesystem provider may write under (absolute), and the S3 multipart part size. */
  storage: Readonly<{ directories: readonly string[]; partBytes: number }>;
  /** Where clients reach the API, for the links it hands out (download links): no trailing slash. */
  publicUrl: string;
  /** CIDRs of the proxies in front of the API whose `X-Forwarded-For` names the client (for the per-address rate limit); empty: none. */
  trustedProxies: readonly string[];
  /**
   * History kept: events, deliveries and attempts are removed `days` after the event was received
   * once nothing about them is open or recent (0: kept forever), `batch` events to a transaction,
   * looked for every `sweepMs`.
   */
  retention: Readonly<{ days: number; batch: number; sweepMs: number }>;
  /** A destination whose attempts have all failed for this long is disabled (0: never). Default 5 days. */
  autoDisableAfterMs: number;
  /**
   * Events taken in from a NATS JetStream stream by the worker (see docs/nats-ingest.md): off
   * without `url`. The stream (made with `subjects` when missing) is read by the durable pull
   * consumer `dispatch-ingest`, which delivers a message at most `maxDeliver` times and again
   * when it was not acknowledged within `ackWaitMs`.
   */
  natsIngest: Readonly<{ url: string | undefined; stream: string; subjects: string; maxDeliver: number; ackWaitMs: number }>;
  /**
   * Live WebSocket push (the `websocket` kind and the sessions the API holds): the last `replay`
   * frames of a subject are kept for `replayTtlSeconds`; sessions are pinged every `pingMs` and
   * closed when no pong came within `pongWaitMs`, or when more than `sendQueue` frames wait to
   * be written; a frame that came before the one it follows is held back at most `reorderWaitMs`;
   * presence events wait `presenceDebounceMs` so that a device that drops and comes back within
   * it announces nothing.
   */
  live: Readonly<{
    replay: number;
    replayTtlSeconds: number;
    pingMs: number;
    pongWaitMs: number;
    sendQueue: number;
    reorderWaitMs: number;
    presenceDebounceMs: number;
  }>;
  logLevel: 'error' | 'warn' | 'log' | 'debug' | 'verbose';
  /** How log lines are written: one JSON object a line (`json`), or for people (`pretty`); `json` by default when NODE_ENV is `production`. */
  logFormat: 'json' | 'pretty';
}>;

/** Reads and validates the environment once; throws naming every bad variable. */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): DispatchConfig {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  if (e.DISPATCH_WS_PONG_WAIT_MS <= e.DISPATCH_WS_PING_MS) {
    throw new Error(
      `Invalid configuration: DISPATCH_WS_PONG_WAIT_MS: must be more than DISPATCH_WS_PING_MS (${e.DISPATCH_WS_PING_MS}), or every session would be closed before its first pong could come`,
    );
  }
  if (e.DISPATCH_FILES_S3_BUCKET !== undefined) {
    const missing = (['DISPATCH_FILES_S3_ACCESS_KEY_ID', 'DISPATCH_FILES_S3_SECRET_ACCESS_KEY'] as const).filter((name) => e[name] === undefined);
    if (missing.length > 0) throw new Error(`Invalid configuration: ${missing.map((name) => `${name}: required when DISPATCH_FILES_S3_BUCKET is set`).join('; ')}`);
  }
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    databasePool: e.DISPATCH_DATABASE_POOL,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.DISPATCH_REDIS_CLUSTER_NODES,
    bootstrapKey: e.DISPATCH_BOOTSTRAP_KEY,
    encryption: { current: e.DISPATCH_ENCRYPTION_KEY, previous: e.DISPATCH_ENCRYPTION_KEY_PREVIOUS },
    rateLimit: { perKeyPerMinute: e.DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE, perAddressPerMinute: e.DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE },
    queuePrefix: e.DISPATCH_QUEUE_PREFIX,
    adminDir: e.DISPATCH_ADMIN_DIR,
    worker: {
      concurrency: e.DISPATCH_WORKER_CONCURRENCY,
      idleMs: e.DISPATCH_WORKER_IDLE_MS,
      scanMs: e.DISPATCH_WORKER_SCAN_MS,
      maxQueues: e.DISPATCH_WORKER_MAX_QUEUES,
      sliceMs: e.DISPATCH_WORKER_SLICE_MS,
      metricsPort: e.DISPATCH_METRICS_PORT,
      reconcileMs: e.DISPATCH_RECONCILE_MS,
      drainTimeoutMs: e.DISPATCH_DRAIN_TIMEOUT_MS,
      lockMs: e.DISPATCH_LOCK_MS,
    },
    attempts: { timeoutMs: e.DISPATCH_WEBHOOK_TIMEOUT_MS, replyMaxBytes: e.DISPATCH_RESPONSE_MAX_BYTES },
    alerts: { evaluateMs: e.DISPATCH_ALERTS_EVALUATE_MS },
    requestTimeoutMs: e.DISPATCH_REQUEST_TIMEOUT_MS,
    queues: { allowRetries: e.DISPATCH_QUEUES_ALLOW_RETRIES },
    egressAllow: e.DISPATCH_EGRESS_ALLOW,
    storage: { directories: e.DISPATCH_STORAGE_DIRECTORIES.map((entry) => path.resolve(entry)), partBytes: e.DISPATCH_STORAGE_PART_BYTES },
    files: {
      directory: e.DISPATCH_FILES_DIR,
      maxBytes: e.DISPATCH_FILES_MAX_BYTES,
      s3:
        e.DISPATCH_FILES_S3_BUCKET === undefined
          ? undefined
          : {
              bucket: e.DISPATCH_FILES_S3_BUCKET,
              region: e.DISPATCH_FILES_S3_REGION,
              endpoint: e.DISPATCH_FILES_S3_ENDPOINT,
              accessKeyId: e.DISPATCH_FILES_S3_ACCESS_KEY_ID as string,
              secretAccessKey: e.DISPATCH_FILES_S3_SECRET_ACCESS_KEY as string,
              forcePathStyle: e.DISPATCH_FILES_S3_FORCE_PATH_STYLE,
              prefix: e.DISPATCH_FILES_S3_PREFIX,
            },
    },
    publicUrl: (e.DISPATCH_PUBLIC_URL ?? `http://${e.HOST === '0.0.0.0' || e.HOST === '::' ? 'localhost' : e.HOST}:${e.PORT}`).replace(/\/+$/, ''),
    trustedProxies: e.DISPATCH_TRUST_PROXY,
    retention: { days: e.DISPATCH_RETENTION_DAYS, batch: e.DISPATCH_RETENTION_BATCH, sweepMs: e.DISPATCH_RETENTION_SWEEP_MS },
    autoDisableAfterMs: e.DISPATCH_AUTO_DISABLE_AFTER_MS,
    natsIngest: {
      url: e.DISPATCH_NATS_URL,
      stream: e.DISPATCH_NATS_INGEST_STREAM,
      subjects: e.DISPATCH_NATS_INGEST_SUBJECTS,
      maxDeliver: e.DISPATCH_NATS_INGEST_MAX_DELIVER,
      ackWaitMs: e.DISPATCH_NATS_INGEST_ACK_WAIT_MS,
    },
    live: {
      replay: e.DISPATCH_WS_REPLAY,
      replayTtlSeconds: e.DISPATCH_WS_REPLAY_TTL_SECONDS,
      pingMs: e.DISPATCH_WS_PING_MS,
      pongWaitMs: e.DISPATCH_WS_PONG_WAIT_MS,
      sendQueue: e.DISPATCH_WS_SEND_QUEUE,
      reorderWaitMs: e.DISPATCH_WS_REORDER_WAIT_MS,
      presenceDebounceMs: e.DISPATCH_WS_PRESENCE_DEBOUNCE_MS,
    },
    logLevel: e.LOG_LEVEL,
    logFormat: e.DISPATCH_LOG_FORMAT ?? (environment.NODE_ENV === 'production' ? 'json' : 'pretty'),
  };
}

/** One node of a Redis Cluster, as given; the cluster tells the client about the others. */
export type RedisNode = Readonly<{ host: string; port: number }>;

export type EncryptionKeys = Readonly<{ current: Buffer; previous: Buffer | undefined }>;

/**
 * Only the encryption keys, for the scripts that need nothing else (migrations, key rotation):
 * undefined when DISPATCH_ENCRYPTION_KEY is unset; throws naming a malformed variable.
 */
export function loadEncryptionKeys(environment: NodeJS.ProcessEnv = process.env): EncryptionKeys | undefined {
  if (environment.DISPATCH_ENCRYPTION_KEY === undefined) return undefined;
  const parsed = z.object(encryptionVariables).safeParse(environment);
  if (!parsed.success) {
    throw new Error(`Invalid configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return { current: parsed.data.DISPATCH_ENCRYPTION_KEY, previous: parsed.data.DISPATCH_ENCRYPTION_KEY_PREVIOUS };
}

/** Nest injection token for the loaded configuration. */
export const DISPATCH_CONFIG = Symbol('DISPATCH_CONFIG');
