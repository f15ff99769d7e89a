import { StringDecoder } from 'node:string_decoder';
import { Agent, Dispatcher, request } from 'undici';
import { signatureHeader, webhookBody } from '@dispatch/domain';
import type { WebhookConfig } from './config';

export const USER_AGENT = 'Dispatch/0.1.0';

export type WebhookTimeouts = { timeoutMs: number; responseMaxBytes: number };

export type WebhookRequest = {
  config: WebhookConfig;
  secrets: readonly string[];
  deliveryId: string;
  attemptNumber: number;
  event: { id: string; type: string; data: unknown; receivedAt: Date };
};

export type WebhookResponse =
  | { statusCode: number; durationMs: number; responseBody: string; retryAfter: string | null }
  | { error: string; durationMs: number };

/**
 * Sends webhooks over kept-alive connections. Redirects are never followed; every phase
 * (connect, headers, body) has its own timeout; at most `responseMaxBytes` of the answer is read,
 * and kept as whole UTF-8 characters.
 */
export class WebhookSender {
  private readonly agent: Dispatcher;

  constructor(private readonly timeouts: WebhookTimeouts) {
    this.agent = new Agent({
      connect: { timeout: Math.min(timeouts.timeoutMs, 10_000) },
      headersTimeout: timeouts.timeoutMs,
      bodyTimeout: timeouts.timeoutMs,
      keepAliveTimeout: 4_000,
      connections: 64,
    });
  }

  async send(webhook: WebhookRequest, now: Date = new Date()): Promise<WebhookResponse> {
    const body = webhookBody(webhook.event);
    const timestamp = Math.floor(now.getTime() / 1000);
    const started = performance.now();
    try {
      const response = await request(webhook.config.url, {
        method: webhook.config.method,
        dispatcher: this.agent,
        headers: {
          ...webhook.config.headers,
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': webhook.event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(webhook.secrets, webhook.event.id, timestamp, body),
          'dispatch-delivery-id': webhook.deliveryId,
          'dispatch-attempt': String(webhook.attemptNumber),
          'dispatch-event-type': webhook.event.type,
        },
        body,
        signal: AbortSignal.timeout(this.timeouts.timeoutMs),
      });
      const responseBody = await readCapped(response.body, this.timeouts.responseMaxBytes);
      const retryAfter = response.headers['retry-after'];
      return {
        statusCode: response.statusCode,
        durationMs: Math.round(performance.now() - started),
        responseBody,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : (retryAfter ?? null),
      };
    } catch (error) {
      return { error: describeError(error), durationMs: Math.round(performance.now() - started) };
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    chunks.push(buffer.subarray(0, maxBytes - size));
    size += buffer.length;
    if (size >= maxBytes) {
      body.destroy();
      break;
    }
  }
  // A cut answer may end inside a multi-byte character: only whole characters are kept.
  const decoder = new StringDecoder('utf8');
  const text = decoder.write(Buffer.concat(chunks));
  return size < maxBytes ? text + decoder.end() : text;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const TLS_CODE = /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/;

/** A short, secret-free description of why a request failed, starting with its class. */
export function describeError(error: unknown): string {
  if (typeof error !== 'object' || error === null || !('message' in error)) return `error: ${String(error)}`;
  const failure = error as { name?: string; message: string; code?: string; cause?: { code?: string; message?: string } };
  const code = failure.code ?? failure.cause?.code;
  const message = failure.cause?.message ?? failure.message;
  if (failure.name === 'TimeoutError' || (code && TIMEOUT_CODES.has(code))) return `timeout${code ? ` (${code})` : ''}: ${message}`;
  if (code && TLS_CODE.test(code)) return `tls error (${code}): ${message}`;
  if (code && CONNECTION_CODES.has(code)) return `connection error (${code}): ${message}`;
  return `error${code ? ` (${code})` : ''}: ${message}`;
}
