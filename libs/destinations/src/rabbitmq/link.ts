import { connect, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import type { EgressGuard } from '../egress';
import { brokerAddress, brokerHost, type RabbitmqConfig } from './config';

/** The broker's `basic.return`: it took the message but no queue is bound for its routing key. */
export type Returned = { replyCode: number; replyText: string };

/** How the broker answered one publish. */
export type PublishOutcome =
  | { kind: 'confirmed'; returned: Returned | null }
  | { kind: 'nacked' }
  /** The channel or the connection closed first; `closedBy` is the broker's error, when it gave one. */
  | { kind: 'closed'; closedBy: Error | null };

/** One message to publish; `returnKey` (its `dispatch-delivery-id` header) matches a `basic.return` to it. */
export type Publication = { exchange: string; routingKey: string; content: Buffer; options: Options.Publish; returnKey: string };

/** What opening a link needs besides the config. */
export type OpenOptions = { egress: EgressGuard; connectTimeoutMs: number; destinationId: string };

/** A confirm channel and what it has told: why it closed, whether its write buffer is full, the messages the broker returned. */
type PublishChannel = { channel: ConfirmChannel; closed: boolean; closedBy: Error | null; saturated: boolean; returned: Map<string, Returned> };

const HEARTBEAT_SECONDS = 30;

/**
 * One AMQP connection to a destination's broker and one confirm channel on it, opened through
 * the egress guard. A channel the broker closes (a missing exchange) is replaced by the next
 * publish; a closed connection stays closed (the sender drops it and opens another).
 * Publishing waits while the broker blocks the connection (`connection.blocked`) or the
 * channel's write buffer is full, until `drain`.
 */
export class BrokerLink {
  private publishing: Promise<PublishChannel> | null = null;
  private closedBy: Error | null = null;
  private ended = false;
  private blockedBy: string | null = null;
  private readonly waiting = new Set<() => void>();

  private constructor(private readonly model: ChannelModel) {
    model.on('error', (error: Error) => (this.closedBy = error));
    model.on('close', () => {
      this.ended = true;
      this.wake();
    });
    model.on('blocked', (reason: string) => (this.blockedBy = reason || 'no reason given'));
    model.on('unblocked', () => {
      this.blockedBy = null;
      this.wake();
    });
  }

  /**
   * Connects and opens the virtual host as the config's user. A literal host is checked by the
   * egress guard first, a name resolved by its `lookup`: the address checked is the one connected to.
   */
  static async open(config: RabbitmqConfig, options: OpenOptions): Promise<BrokerLink> {
    const refusal = options.egress.hostRefusal(brokerHost(config));
    if (refusal) throw refusal;
    const model = await connect(
      { ...brokerAddress(config), heartbeat: HEARTBEAT_SECONDS },
      { lookup: options.egress.lookup, timeout: options.connectTimeoutMs, noDelay: true, clientProperties: { connection_name: `dispatch ${options.destinationId}` } },
    );
    return new BrokerLink(model);
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Why the broker blocks publishing (flow control: memory or disk alarm), or null. */
  get blocked(): string | null {
    return this.blockedBy;
  }

  /** Resolves once the link takes a message: not blocked, its channel's buffer not full. Rejects when `signal` aborts first. */
  async writable(signal: AbortSignal): Promise<void> {
    for (;;) {
      const current = this.publishing ? await this.publishing.catch(() => null) : null;
      const saturated = current !== null && current.saturated && !current.closed;
      if (this.ended || (this.blockedBy === null && !saturated)) return;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          this.waiting.delete(resolve);
          reject(signal.reason as Error);
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        this.waiting.add(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  /** Publishes on the confirm channel (a new one when the last was closed) and answers how the broker took it. */
  async publish(publication: Publication): Promise<PublishOutcome> {
    const state = await this.publishChannel();
    if (state.closed) return { kind: 'closed', closedBy: state.closedBy ?? this.closedBy };
    return new Promise((resolve) => {
      const writable = state.channel.publish(publication.exchange, publication.routingKey, publication.content, publication.options, (error: Error | null) => {
        const returned = state.returned.get(publication.returnKey) ?? null;
        state.returned.delete(publication.returnKey);
        if (error === null) resolve({ kind: 'confirmed', returned });
        // amqplib's words for a basic.nack; any other error means the channel closed first.
        else if (error.message === 'message nacked') resolve({ kind: 'nacked' });
        else resolve({ kind: 'closed', closedBy: state.closedBy ?? this.closedBy });
      });
      if (!writable) state.saturated = true;
    });
  }

  /** Checks that `exchange` exists on a channel of its own, closed after (rejects with the broker's 404 when it does not). */
  async checkExchange(exchange: string): Promise<void> {
    const channel = await this.model.createChannel();
    channel.on('error', () => undefined); // the failure is the rejection below
    await channel.checkExchange(exchange);
    await channel.close().catch(() => undefined);
  }

  /** Closes the connection; never throws. */
  async close(): Promise<void> {
    if (this.ended) return;
    await this.model.close().catch(() => undefined);
  }

  private publishChannel(): Promise<PublishChannel> {
    const current = this.publishing;
    if (current) {
      return current.then((state) => {
        if (!state.closed || this.ended) return state;
        if (this.publishing === current) this.publishing = null;
        return this.publishChannel();
      });
    }
    const opening = this.openChannel();
    this.publishing = opening;
    opening.catch(() => {
      if (this.publishing === opening) this.publishing = null;
    });
    return opening;
  }

  private async openChannel(): Promise<PublishChannel> {
    const channel = await this.model.createConfirmChannel();
    const state: PublishChannel = { channel, closed: false, closedBy: null, saturated: false, returned: new Map() };
    channel.on('error', (error: Error) => (state.closedBy = error));
    channel.on('close', () => {
      state.closed = true;
      this.wake();
    });
    channel.on('drain', () => {
      state.saturated = false;
      this.wake();
    });
    channel.on('return', (message: { fields: Returned; properties: { headers?: Record<string, unknown> } }) => {
      const key = message.properties.headers?.['dispatch-delivery-id'];
      if (typeof key === 'string') state.returned.set(key, { replyCode: message.fields.replyCode, replyText: message.fields.replyText });
    });
    return state;
  }

  private wake(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const resume of waiting) resume();
  }
}
