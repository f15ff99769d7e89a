import { EgressRefusedError } from '../egress';
import type { SendVerdict } from '../kind';
import { TemplateError } from '../messages';
import { SubjectError } from './subject';

/** What a failed publish means: retried or not, its secret-free description, and whether the connection is to be dropped. */
export type NatsFailure = { verdict: Extract<SendVerdict, 'transient' | 'permanent'>; error: string; broken: boolean };

/** Where the failed publish went, for the messages that name it. */
export type PublishContext = { subject?: string; jetstream: boolean; tls: boolean };

/** A publish the server refused by the account's permissions (the client reports it apart from the publish). */
export class PublishRefusedError extends Error {
  readonly code = 'PERMISSIONS_VIOLATION';

  constructor(subject: string) {
    super(`not permitted to publish to "${subject}" (Permissions Violation)`);
    this.name = 'PublishRefusedError';
  }
}

/** A JetStream publish to `subject` would find no stream that captures it. */
export class NoStreamError extends Error {
  constructor(subject: string) {
    super(noStream(subject));
    this.name = 'NoStreamError';
  }
}

function noStream(subject: string): string {
  return `no JetStream stream captures subject "${subject}" (503 no responders)`;
}

const AUTH_CODES = new Set(['AUTHORIZATION_VIOLATION', 'AUTHENTICATION_EXPIRED', 'ACCOUNT_EXPIRED', 'BAD_AUTHENTICATION', 'BAD_CREDS']);
const CONNECTION_CODES = new Set([
  'CONNECTION_REFUSED',
  'CONNECTION_CLOSED',
  'CONNECTION_DRAINING',
  'DISCONNECT',
  'AUTHENTICATION_TIMEOUT',
  'NATS_PROTOCOL_ERR',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
]);
const TIMEOUT_CODES = new Set(['TIMEOUT', 'CONNECTION_TIMEOUT', 'ETIMEDOUT']);
/** JetStream API errors that no retry can mend: the message is larger than the stream takes; JetStream is off for the account. */
const PERMANENT_API_ERRORS = new Set([10054, 10039]);

type NatsErrorShape = {
  name?: string;
  message: string;
  code?: string;
  chainedError?: { message?: string; code?: string };
  api_error?: { code: number; err_code?: number; description: string };
};

/**
 * Classifies what `nats` (the client) threw for one publish. Unfillable templates, invalid
 * subjects, refused credentials or permissions, a message larger than the server or stream
 * takes, and a JetStream publish nobody answers (503: no stream captures the subject) are
 * permanent; timeouts, refused or dropped connections, and the other JetStream errors (a full
 * stream refusing new messages) are transient. Messages never carry credentials.
 */
export function natsFailure(thrown: unknown, context: PublishContext): NatsFailure {
  if (thrown instanceof TemplateError || thrown instanceof SubjectError) return { verdict: 'permanent', error: thrown.message, broken: false };
  if (thrown instanceof PublishRefusedError || thrown instanceof NoStreamError) return { verdict: 'permanent', error: thrown.message, broken: false };
  if (thrown instanceof EgressRefusedError) return { verdict: 'transient', error: thrown.message, broken: true };
  if (typeof thrown !== 'object' || thrown === null || !('message' in thrown)) return { verdict: 'transient', error: `error: ${String(thrown)}`, broken: true };
  const failure = thrown as NatsErrorShape;
  // A DOMException's code is a number: only the client's and the system's codes (text) count.
  const code = typeof failure.code === 'string' ? failure.code : failure.chainedError?.code;
  if (failure.name === 'TimeoutError' || (code && TIMEOUT_CODES.has(code)))
    return { verdict: 'transient', error: described('timeout', code, failure.message), broken: true };
  if (code && AUTH_CODES.has(code))
    return { verdict: 'permanent', error: `not authorized (${code}): the server refused the credentials: ${failure.message}`, broken: true };
  if (code === 'PERMISSIONS_VIOLATION') return { verdict: 'permanent', error: `not permitted (${code}): ${failure.message}`, broken: false };
  if (code === 'MAX_PAYLOAD_EXCEEDED') return { verdict: 'permanent', error: "message too large: it exceeds the server's max_payload", broken: false };
  if (code === 'SERVER_OPT_NA' && failure.message === 'tls') {
    const error = context.tls ? 'tls error: the server does not offer TLS (use a nats:// URL)' : 'tls error: the server requires TLS (use a tls:// URL)';
    return { verdict: 'permanent', error, broken: true };
  }
  // A stream's own refusal (a full stream answers 503 too) carries its API error.
  if (failure.api_error) {
    const api = failure.api_error;
    const error = `JetStream error ${api.code}${api.err_code ? `/${api.err_code}` : ''}: ${api.description}`;
    return { verdict: api.err_code && PERMANENT_API_ERRORS.has(api.err_code) ? 'permanent' : 'transient', error, broken: false };
  }
  // No API error: nobody answered the publish.
  if (code === '503' && context.jetstream) {
    const error = context.subject === undefined ? 'JetStream is not enabled on the server for this account (503 no responders)' : noStream(context.subject);
    return { verdict: 'permanent', error, broken: false };
  }
  // A connection closed before the server said anything comes with no system error of its own.
  const closedEarly = code === 'CONNECTION_REFUSED' && failure.chainedError !== undefined && failure.chainedError.code === undefined;
  const detail = closedEarly ? 'the connection closed before the server answered' : (failure.chainedError?.message ?? failure.message);
  if (code && CONNECTION_CODES.has(code)) return { verdict: 'transient', error: described('connection error', code, detail), broken: true };
  if (code === 'TLS' || /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/.test(code ?? ''))
    return { verdict: 'transient', error: described('tls error', code, detail), broken: true };
  return { verdict: 'transient', error: described('error', code, detail), broken: true };
}

/** `what (code): detail`, without the code when there is none and without a detail that only repeats it. */
function described(what: string, code: string | undefined, detail: string): string {
  return `${what}${code ? ` (${code})` : ''}${detail && detail !== code ? `: ${detail}` : ''}`;
}
