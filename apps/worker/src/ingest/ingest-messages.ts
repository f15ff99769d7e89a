import { Inject, Injectable, Logger } from '@nestjs/common';
import type { DeliveryInfo, JsMsg } from 'nats';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { IngestRejectionRepository, IngestResult, NewIngestRejection, OrganizationRepository } from '@dispatch/db';
import { BODY_MAX_DEPTH, jsonErrorWithoutExcerpt, nestsDeeperThan, newId } from '@dispatch/domain';
import { IngestEvent, IngestEventInput, IngestRequest, InvalidEvent, readEvent } from '@dispatch/ingest';
import { WorkerMetrics } from '../operations/worker-metrics';

/** What the ingest needs of a JetStream message. */
export type StreamMessage = Pick<JsMsg, 'subject' | 'data' | 'headers' | 'ack' | 'nak' | 'term'> & {
  info: Pick<DeliveryInfo, 'stream' | 'streamSequence' | 'deliveryCount' | 'timestampNanos'>;
};

/** How much of a rejected message's body is kept. */
export const REJECTED_BODY_MAX_BYTES = 64 * 1024;

/** The delay of the first redelivery after a passing failure; it doubles with every delivery, up to the longest. */
export const RETRY_FIRST_MS = 1_000;
export const RETRY_LONGEST_MS = 60_000;

/** The redelivery delay after the `deliveryCount`-th delivery failed for a passing reason. */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(RETRY_LONGEST_MS, RETRY_FIRST_MS * 2 ** Math.max(0, Math.min(deliveryCount - 1, 16)));
}

/** A message read: the event and the organization it is for, or why it can never be ingested. */
type Read = { message: StreamMessage; organizationId: string | null } & ({ request: IngestRequest } | { reason: string });

const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenient = new TextDecoder('utf-8');

/**
 * Takes in a group of messages of the ingest stream, in stream order, as `POST /v1/events` takes
 * in events: read (JSON, the organization the subject names, the event schema), then one write
 * for all of them (`IngestEvent.executeEach`: routing, idempotency, the outbox, the enqueue). After
 * the commit each is acknowledged; one that can never be ingested is recorded as rejected and
 * terminated; one that failed for a passing reason (the database unreachable) is negatively
 * acknowledged with a delay, or, at its last delivery, recorded as rejected with the error.
 */
@Injectable()
export class IngestMessages {
  private readonly logger = new Logger('nats-ingest');
  private readonly prefix: string;

  constructor(
    private readonly ingest: IngestEvent,
    private readonly organizations: OrganizationRepository,
    private readonly rejections: IngestRejectionRepository,
    private readonly metrics: WorkerMetrics,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {
    this.prefix = config.natsIngest.subjects.slice(0, -1);
  }

  /** Takes in the messages (in stream order); answers the longest redelivery delay asked for, 0 when none failed for a passing reason. */
  async handle(messages: readonly StreamMessage[]): Promise<number> {
    const reads = messages.map((message) => this.read(message));
    await this.checkOrganizations(reads);
    const accepted: (IngestResult | Error)[] = new Array(reads.length);
    const writable = reads.flatMap((read, index) => ('request' in read ? [{ index, request: read.request }] : []));
    if (writable.length > 0) {
      try {
        const results = await this.ingest.executeEach(writable.map(({ request }) => request));
        writable.forEach(({ index }, position) => (accepted[index] = results[position]));
      } catch (error) {
        for (const { index } of writable) accepted[index] = error as Error;
      }
    }

    const rejected: { index: number; rejection: NewIngestRejection }[] = [];
    const failed: { index: number; error: Error }[] = [];
    reads.forEach((read, index) => {
      const answer = accepted[index];
      if ('reason' in read) rejected.push({ index, rejection: this.rejection(read, read.reason) });
      else if (answer instanceof InvalidEvent) rejected.push({ index, rejection: this.rejection(read, `invalid event: ${answer.message}`) });
      else if (answer instanceof Error) {
        if (read.message.info.deliveryCount >= this.config.natsIngest.maxDeliver) {
          rejected.push({ index, rejection: this.rejection(read, `still failing at delivery ${read.message.info.deliveryCount} (the last): ${answer.message}`) });
        } else failed.push({ index, error: answer });
      }
    });
    const recorded =
      rejected.length === 0
        ? null
        : await this.rejections.record(rejected.map(({ rejection }) => rejection)).then(
            () => null,
            (error: Error) => error,
          );

    let delay = 0;
    const retry = (message: StreamMessage) => {
      const wait = retryDelayMs(message.info.deliveryCount);
      delay = Math.max(delay, wait);
      message.nak(wait);
      this.metrics.ingestMessages.inc({ outcome: 'retried' });
    };
    const rejectedAt = new Set(rejected.map(({ index }) => index));
    const failedAt = new Set(failed.map(({ index }) => index));
    reads.forEach(({ message }, index) => {
      const answer = accepted[index];
      if (rejectedAt.has(index)) {
        if (recorded === null) {
          // Without a reason: servers before 2.10 ignore `+TERM <reason>` (the reason is in the table).
          message.term();
          this.metrics.ingestMessages.inc({ outcome: 'rejected' });
        } else if (message.info.deliveryCount < this.config.natsIngest.maxDeliver) retry(message);
        else
          this.logger.error(
            `Message ${message.info.streamSequence} of ${message.info.stream} could not be recorded as rejected at its last delivery; it stays in the stream unacknowledged: ${recorded.message}`,
          );
      } else if (failedAt.has(index)) {
        retry(message);
      } else {
        message.ack();
        this.metrics.ingestMessages.inc({ outcome: (answer as IngestResult).created ? 'ingested' : 'duplicate' });
      }
    });
    const firstFailure = failed[0]?.error ?? recorded;
    if (firstFailure) this.logger.warn(`Messages of ${messages[0].info.stream} will be delivered again in up to ${delay} ms: ${firstFailure.message}`);
    return delay;
  }

  /** The message's organization (the subject's token after the prefix) and event, or why it can never be ingested. */
  private read(message: StreamMessage): Read {
    if (!message.subject.startsWith(this.prefix)) return { message, organizationId: null, reason: `the subject is not under ${this.config.natsIngest.subjects}` };
    const organizationId = message.subject.slice(this.prefix.length).split('.', 1)[0];
    let text: string;
    try {
      text = utf8.decode(message.data);
    } catch {
      return { message, organizationId, reason: 'bad JSON: the body is not UTF-8 text' };
    }
    if (nestsDeeperThan(text, BODY_MAX_DEPTH))
      return { message, organizationId, reason: `bad JSON: the body nests arrays and objects deeper than ${BODY_MAX_DEPTH} levels` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      return { message, organizationId, reason: `bad JSON: ${jsonErrorWithoutExcerpt((error as Error).message)}` };
    }
    const input = readEvent(body);
    if (input instanceof InvalidEvent) return { message, organizationId, reason: `invalid event: ${input.message}` };
    const id = this.idOf(message, input);
    if (id instanceof InvalidEvent) return { message, organizationId, reason: `invalid event: ${id.message}` };
    return { message, organizationId, request: { organizationId, id, input } };
  }

  /** The body's id, else the Nats-Msg-Id header (held to the rules of an id), else a new one. */
  private idOf(message: StreamMessage, input: IngestEventInput): string | InvalidEvent {
    if (input.id !== undefined) return input.id;
    const header = message.headers?.get('Nats-Msg-Id').trim() ?? '';
    if (header === '') return newId('evt');
    if (header.length > 255 || header.includes('\u0000')) return new InvalidEvent([{ path: 'Nats-Msg-Id', message: 'must be at most 255 characters, without NUL' }]);
    return header;
  }

  /**
   * Checks the organizations the subjects name, with one query for the group: a read of one that
   * does not exist keeps no organization, and its event becomes a rejection.
   */
  private async checkOrganizations(reads: Read[]): Promise<void> {
    const named = [...new Set(reads.flatMap((read) => (read.organizationId === null ? [] : [read.organizationId])))];
    // Unreachable: the write then fails for every message alike, and they are delivered again.
    const existing = await this.organizations.existing(named).catch(() => new Set(named));
    reads.forEach((read, index) => {
      if (read.organizationId === null || existing.has(read.organizationId)) return;
      reads[index] = { message: read.message, organizationId: null, reason: 'request' in read ? `unknown organization "${read.organizationId}"` : read.reason };
    });
  }

  private rejection(read: Read, reason: string): NewIngestRejection {
    const { message } = read;
    const headers: Record<string, string[]> = {};
    for (const [name, values] of message.headers ?? []) headers[withoutNul(name)] = values.map(withoutNul);
    return {
      organizationId: read.organizationId,
      stream: message.info.stream,
      subject: withoutNul(message.subject),
      streamSeq: message.info.streamSequence,
      body: withoutNul(lenient.decode(message.data.subarray(0, REJECTED_BODY_MAX_BYTES))),
      bodyBytes: message.data.length,
      headers,
      reason: withoutNul(reason),
      deliveries: message.info.deliveryCount,
      receivedAt: new Date(Math.floor(message.info.timestampNanos / 1e6)),
    };
  }
}

/** PostgreSQL text cannot hold NUL: it is shown as U+FFFD. */
function withoutNul(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD');
}
