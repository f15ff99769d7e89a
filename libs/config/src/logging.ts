import { hostname } from 'node:os';
import pino, { DestinationStream, Logger, LoggerOptions } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { DispatchConfig } from './config';

/** Which process writes the lines: every line names it (`app`). */
export type LogApp = 'api' | 'worker';

/** `LOG_LEVEL` (Nest's names) as pino's levels: `log` is pino's `info`, `verbose` its `trace`. */
export function pinoLevel(level: DispatchConfig['logLevel']): pino.Level {
  const levels = { error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' } as const;
  return levels[level];
}

/**
 * Keys whose value is a credential wherever they appear in a logged object (top level, and one
 * or two objects down: `config.password`, `destination.config.password`, `req.headers.authorization`):
 * the secret fields of every destination kind (docs/security.md), the credential headers, and
 * Dispatch's own keys.
 */
export const SECRET_KEYS = [
  'secret',
  'secrets',
  'previousSecret',
  'password',
  'passphrase',
  'token',
  'accessToken',
  'apiKey',
  'privateKey',
  'secretAccessKey',
  'accountKey',
  'bootstrapKey',
  'encryptionKey',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
] as const;

/** Keys that hold a connection string: logged with the user and password taken out (`redis://…@host`). */
export const URL_KEYS = ['url', 'databaseUrl', 'redisUrl', 'connectionString'] as const;

/** A key as a redaction path segment: `password`, or `["x-api-key"]` for a key that is not an identifier. */
function segment(key: string, first: boolean): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return first ? key : `.${key}`;
  return `["${key}"]`;
}

/** `key`, `*.key` and `*.*.key` for every key. */
function anywhere(keys: readonly string[]): string[] {
  return keys.flatMap((key) => [segment(key, true), `*${segment(key, false)}`, `*.*${segment(key, false)}`]);
}

/**
 * Every path pino redacts: the credential keys and connection strings at any of three depths,
 * and every header value of a destination's config (`config.headers.*`: any header may be one
 * of its `secretHeaders`). A rabbitmq config's `username` counts as a secret of that kind.
 */
export const REDACTED_PATHS: readonly string[] = [
  ...anywhere(SECRET_KEYS),
  ...anywhere(URL_KEYS),
  'config.headers.*',
  '*.config.headers.*',
  'config.username',
  '*.config.username',
];

export const REDACTED = '[redacted]';

/** `scheme://user:password@host…` → `scheme://[redacted]@host…`, anywhere in a text. */
export function withoutUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, `$1${REDACTED}@`);
}

/** What a redacted value becomes: a connection string keeps its host, anything else is `[redacted]`. */
function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1];
  if ((URL_KEYS as readonly string[]).includes(key)) return typeof value === 'string' ? withoutUrlCredentials(value) : value;
  return REDACTED;
}

/** Fields added to every line, from sources registered at start-up (the trace and span ids of tracing). */
const fieldSources: (() => Record<string, unknown>)[] = [];

/**
 * Adds `source`'s fields to every line written after this call (pino's `mixin`), e.g. the active
 * span's `traceId` and `spanId`. A source that throws adds nothing. Returns what removes it.
 */
export function addLogFields(source: () => Record<string, unknown>): () => void {
  fieldSources.push(source);
  return () => {
    const index = fieldSources.indexOf(source);
    if (index >= 0) fieldSources.splice(index, 1);
  };
}

function mixin(): Record<string, unknown> {
  if (fieldSources.length === 0) return {};
  const fields: Record<string, unknown> = {};
  for (const source of fieldSources) {
    try {
      Object.assign(fields, source());
    } catch {
      // A field source must never stop a line.
    }
  }
  return fields;
}

/**
 * pino's options for `app`: the level of `LOG_LEVEL`, the level as its name (`"level":"warn"`),
 * an ISO time, the app, the redactions, connection-string credentials taken out of messages,
 * and the fields of `addLogFields`.
 */
export function pinoOptions(config: Pick<DispatchConfig, 'logLevel'>, app: LogApp): LoggerOptions {
  return {
    level: pinoLevel(config.logLevel),
    base: { app, pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: [...REDACTED_PATHS], censor },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((arg) => (typeof arg === 'string' ? withoutUrlCredentials(arg) : arg)) as Parameters<typeof method>);
      },
    },
    mixin,
  };
}

/** Where lines go: stdout, each line written before the call returns (none lost on exit). */
export function logDestination(format: DispatchConfig['logFormat'], output: { write(text: string): unknown } = process.stdout): DestinationStream {
  if (format === 'json') return { write: (line: string) => void output.write(line) };
  const pretty = prettyFactory({
    colorize: Boolean((output as { isTTY?: boolean }).isTTY),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,app,context',
    // `[DeliveryProcessor] …`; no context shown when it only names the app (`api`, `worker`).
    messageFormat: (log, messageKey) => {
      const context = typeof log.context === 'string' && log.context !== log.app ? `[${log.context}] ` : '';
      return `${context}${String(log[messageKey])}`;
    },
    singleLine: true,
  });
  return { write: (line: string) => void output.write(pretty(line)) };
}

/** The pino logger of `app`, writing to stdout in the configured format. */
export function createLogger(config: Pick<DispatchConfig, 'logLevel' | 'logFormat'>, app: LogApp, output?: { write(text: string): unknown }): Logger {
  return pino(pinoOptions(config, app), logDestination(config.logFormat, output));
}

/**
 * A start-up summary as one log line: for people (`pretty`), its lines one under the other; as
 * JSON, its first line as the message and the rest as fields.
 */
export function startupLine(format: DispatchConfig['logFormat'], lines: readonly string[], fields: Record<string, unknown>): Record<string, unknown> {
  return format === 'pretty' ? { msg: lines.join('\n') } : { msg: lines[0], ...fields };
}
