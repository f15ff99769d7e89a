import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { AckPolicy, connect, ConsumerMessages, DeliverPolicy, JetStreamManager, JsMsg, NatsConnection, nanos } from 'nats';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { IngestMessages } from './ingest-messages';

/** The durable consumer the worker reads the ingest stream with. */
export const INGEST_CONSUMER = 'dispatch-ingest';

/** The most messages taken in with one write; as many more are pulled ahead. */
export const INGEST_GROUP = 200;

/** How long to wait before connecting again after NATS could not be reached. */
const RECONNECT_MS = 2_000;

/**
 * Consumes the ingest stream (DISPATCH_NATS_URL) with the durable pull consumer
 * `dispatch-ingest`, making both when missing. Messages are taken in group by group in stream
 * order, one group at a time (see IngestMessages), so events of one ordering key are written in
 * the order they were published. After a passing failure the messages that arrive before the
 * redelivery delay has passed are sent back with the rest of that delay, untried: they come
 * back with and after the ones that failed.
 *
 * Shutdown: it stops pulling, finishes and acknowledges the messages it holds, then drains the
 * connection (acknowledgements flushed). Whatever it did not finish in time is not acknowledged,
 * and the stream delivers it again after ack_wait: nothing is lost.
 */
@Injectable()
export class NatsIngest implements BeforeApplicationShutdown {
  private readonly logger = new Logger('nats-ingest');
  private connection: NatsConnection | undefined;
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  /** Until when messages are sent back untried, after a passing failure (epoch ms). */
  private retryAfter = 0;

  constructor(
    private readonly ingest: IngestMessages,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {}

  /**
   * Starts taking in messages (when DISPATCH_NATS_URL is set): once the worker has started and
   * handles SIGTERM, so that a stop always finds messages finished and acknowledged.
   */
  start(): void {
    if (this.config.natsIngest.url && !this.running) this.running = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.messages?.close();
    await this.running;
    await this.connection?.drain().catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { url, stream } = this.config.natsIngest;
    const where = redactUrl(url as string);
    let reported = false;
    while (!this.stopping) {
      try {
        this.connection = await connect({ servers: url, name: 'dispatch-worker-ingest', maxReconnectAttempts: -1 });
        const manager = await this.connection.jetstreamManager();
        await this.ensureStream(manager);
        await this.ensureConsumer(manager);
        const consumer = await this.connection.jetstream().consumers.get(stream, INGEST_CONSUMER);
        if (this.stopping) break;
        this.messages = await consumer.consume({ max_messages: INGEST_GROUP * 2 });
        this.logger.log(`Taking in events from stream ${stream} at ${where}`);
        reported = false;
        await this.pump(this.messages);
        if (this.stopping) return;
        throw new Error('the consumer stopped (deleted?)');
      } catch (error) {
        if (!reported) this.logger.warn(`NATS ingest at ${where} is not running, trying again every ${RECONNECT_MS} ms: ${(error as Error).message}`);
        reported = true;
        await this.connection?.close().catch(() => undefined);
        this.connection = undefined;
        if (!this.stopping) await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    }
  }

  /** Reads messages into a queue while the previous group is written; each write takes all that arrived meanwhile (up to INGEST_GROUP). */
  private async pump(messages: ConsumerMessages): Promise<void> {
    const queue: JsMsg[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const reader = (async () => {
      try {
        for await (const message of messages) {
          queue.push(message);
          wake?.();
        }
      } finally {
        ended = true;
        wake?.();
      }
    })();
    for (;;) {
      if (queue.length === 0) {
        if (ended) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const group = queue.splice(0, INGEST_GROUP);
      const waitMs = this.retryAfter - Date.now();
      if (waitMs > 0) {
        for (const message of group) message.nak(waitMs);
        continue;
      }
      const delay = await this.ingest.handle(group);
      if (delay > 0) this.retryAfter = Date.now() + delay;
    }
    await reader;
  }

  private async ensureStream(manager: JetStreamManager): Promise<void> {
    const { stream, subjects } = this.config.natsIngest;
    try {
      await manager.streams.info(stream);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await manager.streams.add({ name: stream, subjects: [subjects] });
      this.logger.log(`Made stream ${stream} on ${subjects}`);
    }
  }

  private async ensureConsumer(manager: JetStreamManager): Promise<void> {
    const { stream, maxDeliver, ackWaitMs } = this.config.natsIngest;
    const settings = { max_deliver: maxDeliver, ack_wait: nanos(ackWaitMs) };
    try {
      const info = await manager.consumers.info(stream, INGEST_CONSUMER);
      if (info.config.max_deliver !== settings.max_deliver || info.config.ack_wait !== settings.ack_wait) {
        await manager.consumers.update(stream, INGEST_CONSUMER, settings);
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await manager.consumers.add(stream, { durable_name: INGEST_CONSUMER, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ...settings });
    }
  }
}

/** JetStream's answer that a stream or consumer does not exist. */
function isNotFound(error: unknown): boolean {
  const code = (error as { api_error?: { err_code?: number; code?: number } }).api_error;
  return code?.code === 404 || /not found/i.test((error as Error).message);
}

/** The URL without credentials (`nats://user:pass@host` → `nats://host`). */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return 'the NATS server';
  }
}
