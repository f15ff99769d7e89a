import { Agent, Dispatcher, request } from 'undici';
import { SendResult, signatureHeader, webhookBody } from '@dispatch/domain';
import { attemptDeadline } from '../attempt-deadline';
import { describeError, egressFailure } from '../connection-errors';
import { readCapped } from '../http-reply';
import type { SendRequest, Sender, SenderDeps } from '../kind';
import type { WebhookConfig } from './config';
import { httpVerdict } from './verdict';

export const USER_AGENT = 'Dispatch/0.1.0';

/**
 * Sends webhooks over kept-alive connections, each opened through the egress guard (to an
 * address it allows, the one it checked). Redirects are never followed; every phase
 * (connect, headers, body) has its own timeout; at most `replyMaxBytes` of the answer is read,
 * and kept as whole UTF-8 characters.
 */
export class WebhookSender implements Sender<WebhookConfig> {
  private readonly agent: Dispatcher;

  constructor(private readonly deps: SenderDeps) {
    this.agent = new Agent({
      connect: deps.egress.connector({ timeout: Math.min(deps.timeoutMs, 10_000) }),
      headersTimeout: deps.timeoutMs,
      bodyTimeout: deps.timeoutMs,
      keepAliveTimeout: 4_000,
      connections: 64,
    });
  }

  async send(webhook: SendRequest<WebhookConfig>, signal: AbortSignal, now: Date = new Date()): Promise<SendResult> {
    const body = webhookBody(webhook.event);
    const timestamp = Math.floor(now.getTime() / 1000);
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
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
        signal: deadline.signal,
      });
      const reply = await readCapped(response.body, this.deps.replyMaxBytes);
      const retryAfter = response.headers['retry-after'];
      const verdict = httpVerdict(
        { statusCode: response.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : (retryAfter ?? null) },
        webhook.retryPolicy.nonRetryableStatuses,
        now,
      );
      return { ...verdict, statusCode: response.statusCode, reply, durationMs: Math.round(performance.now() - started) };
    } catch (error) {
      return { verdict: 'transient', error: describeError(error), ...egressFailure(error), durationMs: Math.round(performance.now() - started) };
    } finally {
      deadline.end();
    }
  }

  /** A signed `dispatch.test` event, sent now. */
  test(webhook: SendRequest<WebhookConfig>, signal: AbortSignal): Promise<SendResult> {
    return this.send(webhook, signal);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
