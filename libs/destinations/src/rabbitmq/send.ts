import type { SendResult } from '@dispatch/domain';
import { attemptDeadline, untilDeadline } from '../attempt-deadline';
import type { SendRequest, Sender, SenderDeps } from '../kind';
import { DestinationConnections, renderTemplate, signedMessage, TemplateError } from '../messages';
import type { RabbitmqConfig } from './config';
import { BrokerLink, Publication, PublishOutcome } from './link';
import { brokerFailure, BrokerFailure, withoutCredentials } from './verdict';

/** What an attempt (or a connection test) waits for, to say what did not come in time. */
type Waiting = 'connection' | 'flow control' | 'confirm' | 'exchange check';

/** AMQP short strings (exchange names, routing keys) hold at most 255 bytes. */
const SHORT_STRING_BYTES = 255;

/** Where an event goes: the config's exchange and routing key templates filled from it. Throws `TemplateError` when they cannot be. */
export function targetOf(request: Pick<SendRequest<RabbitmqConfig>, 'config' | 'organizationId' | 'event'>): { exchange: string; routingKey: string } {
  const exchange = renderTemplate(request.config.exchange, request);
  const routingKey = renderTemplate(request.config.routingKey, request);
  for (const [what, value] of [
    ['exchange', exchange],
    ['routing key', routingKey],
  ]) {
    if (Buffer.byteLength(value) > SHORT_STRING_BYTES) throw new TemplateError(`the ${what} filled from the event is longer than ${SHORT_STRING_BYTES} bytes`);
  }
  return { exchange, routingKey };
}

/**
 * The message for one attempt: the webhook JSON, signed with Standard Webhooks headers, with the
 * event id as message id, persistent (delivery mode 2) unless the config says otherwise, and
 * mandatory, so the broker tells when no queue takes it.
 */
export function publicationOf(request: SendRequest<RabbitmqConfig>, target: { exchange: string; routingKey: string }, now: Date): Publication {
  const message = signedMessage(request, now);
  return {
    ...target,
    content: Buffer.from(message.body),
    returnKey: request.deliveryId,
    options: {
      mandatory: true,
      persistent: request.config.persistent,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      messageId: request.event.id,
      type: request.event.type,
      timestamp: Number(message.headers['webhook-timestamp']),
      headers: {
        ...message.headers,
        'dispatch-delivery-id': request.deliveryId,
        'dispatch-attempt': request.attemptNumber,
        'dispatch-event-type': request.event.type,
      },
    },
  };
}

/**
 * What the broker's answer to a publish means: confirmed is delivered (also when it returned the
 * message as unroutable: it reached the exchange, which is what the broker confirms; the attempt
 * records it); a nack, or a channel closed without a reason, may work later; a channel the broker
 * closed over this message (a missing exchange) is judged by its reply code, and one it closed
 * over another message published on it at the same time (this one was dropped with it) is retried.
 */
export function publishVerdict(
  outcome: PublishOutcome,
  publication: Pick<Publication, 'exchange' | 'routingKey' | 'content'>,
  config: RabbitmqConfig,
): BrokerFailure & Pick<SendResult, 'reply'> {
  if (outcome.kind === 'confirmed') {
    if (!outcome.returned) return { verdict: 'delivered' };
    const { replyCode, replyText } = outcome.returned;
    return {
      verdict: 'delivered',
      reply: `confirmed, but unroutable: the broker returned it (${replyCode} ${replyText}): no queue is bound to exchange "${publication.exchange}" for routing key "${publication.routingKey}"`,
    };
  }
  if (outcome.kind === 'nacked') return { verdict: 'transient', error: 'the broker did not take the message (basic.nack)' };
  if (!outcome.closedBy) return { verdict: 'transient', error: 'the connection to the broker closed before it confirmed the message' };
  const failure = brokerFailure(outcome.closedBy, config);
  if (failure.verdict !== 'permanent' || concerns(outcome.closedBy.message, publication)) return failure;
  return { verdict: 'transient', error: `the broker closed the channel over another message published with it: ${failure.error}` };
}

/** Whether the broker's reason for closing a channel names this message: its exchange (404, 403) or its size (406). */
function concerns(reason: string, publication: Pick<Publication, 'exchange' | 'content'>): boolean {
  return reason.includes(`exchange '${publication.exchange}'`) || reason.includes(`message size ${publication.content.length} `);
}

/**
 * Publishes signed events to RabbitMQ over one connection and one confirm channel per
 * destination. Delivered when the broker confirms the message (basic.ack).
 */
export class RabbitmqSender implements Sender<RabbitmqConfig> {
  private readonly connections = new DestinationConnections<BrokerLink>(
    (link) => link.close(),
    (link) => link.closed,
  );

  constructor(private readonly deps: SenderDeps) {}

  async send(request: SendRequest<RabbitmqConfig>, signal: AbortSignal, now: Date = new Date()): Promise<SendResult> {
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    let waitingFor: Waiting = 'connection';
    let link: BrokerLink | undefined;
    try {
      const target = targetOf(request);
      link = await untilDeadline(this.link(request), deadline.signal);
      waitingFor = 'flow control';
      await link.writable(deadline.signal);
      waitingFor = 'confirm';
      const publication = publicationOf(request, target, now);
      const outcome = await untilDeadline(link.publish(publication), deadline.signal);
      return { ...publishVerdict(outcome, publication, request.config), durationMs: took() };
    } catch (error) {
      if (error instanceof TemplateError) return { verdict: 'permanent', error: error.message, durationMs: took() };
      if (!deadline.signal.aborted) return { ...brokerFailure(error, request.config), durationMs: took() };
      // No confirm in time leaves the connection in doubt: the next attempt opens another.
      if (waitingFor === 'confirm') await this.connections.drop(request.destinationId, link);
      return { verdict: 'transient', error: this.overdue(waitingFor, link, deadline.signal.reason, request.config), durationMs: took() };
    } finally {
      deadline.end();
    }
  }

  /**
   * Connects with a connection of its own, opens the virtual host as the config's user and
   * checks that the exchange exists when its name does not depend on the event (only
   * `{organization}`); publishes nothing.
   */
  async test(request: SendRequest<RabbitmqConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    let opening: Promise<BrokerLink> | undefined;
    let waitingFor: Waiting = 'connection';
    try {
      const exchange = /\{(event|data)\./.test(request.config.exchange) ? null : renderTemplate(request.config.exchange, request);
      opening = this.open(request);
      const link = await untilDeadline(opening, deadline.signal);
      if (exchange === null) return { verdict: 'delivered', reply: 'connected; the exchange depends on the event, so it was not checked', durationMs: took() };
      waitingFor = 'exchange check';
      await untilDeadline(link.checkExchange(exchange), deadline.signal);
      return { verdict: 'delivered', reply: `connected; exchange "${exchange}" exists`, durationMs: took() };
    } catch (error) {
      if (deadline.signal.aborted)
        return { verdict: 'transient', error: this.overdue(waitingFor, undefined, deadline.signal.reason, request.config), durationMs: took() };
      return { ...brokerFailure(error, request.config), durationMs: took() };
    } finally {
      deadline.end();
      // Also when it opens after the deadline.
      void opening?.then((link) => link.close()).catch(() => undefined);
    }
  }

  async release(destinationId: string): Promise<void> {
    await this.connections.release(destinationId);
  }

  async close(): Promise<void> {
    await this.connections.close();
  }

  /** The destination's link, opened again when the one held has closed since its last attempt. */
  private link(request: SendRequest<RabbitmqConfig>): Promise<BrokerLink> {
    return this.connections.get(request.destinationId, request.config, () => this.open(request));
  }

  private open(request: SendRequest<RabbitmqConfig>): Promise<BrokerLink> {
    return BrokerLink.open(request.config, { egress: this.deps.egress, connectTimeoutMs: Math.min(this.deps.timeoutMs, 10_000), destinationId: request.destinationId });
  }

  /** Why an attempt ran out of time (or was stopped by shutdown), by what it was waiting for. */
  private overdue(waitingFor: Waiting, link: BrokerLink | undefined, reason: unknown, config: RabbitmqConfig): string {
    const { name, message } = (typeof reason === 'object' && reason !== null ? reason : { message: String(reason) }) as { name?: string; message?: string };
    if (name !== 'TimeoutError') return `stopped while waiting for the ${waitingFor}: ${message}`;
    const within = `within ${this.deps.timeoutMs} ms`;
    if (waitingFor === 'connection') return `timeout: no connection to the broker ${within}`;
    if (waitingFor === 'confirm') return `timeout: the broker did not confirm the message ${within}`;
    if (waitingFor === 'exchange check') return `timeout: the broker did not answer the exchange check ${within}`;
    const blocked = link?.blocked;
    return blocked
      ? `flow control: the broker blocked publishing (${withoutCredentials(blocked, config)}) for longer than ${this.deps.timeoutMs} ms`
      : `back-pressure: the connection's write buffer did not drain ${within}`;
  }
}
