import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedRequest = {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
};

export type ReceiverAnswer = { status: number; body?: string | Buffer; headers?: Record<string, string>; delayMs?: number };

/** Decides the answer to each request; the default answers 200. */
export type ReceiverScript = (request: ReceivedRequest, index: number) => ReceiverAnswer;

const answerOk: ReceiverScript = () => ({ status: 200, body: 'ok' });

/**
 * A scriptable webhook receiver on loopback: records every request and answers as the
 * script says (status, body, headers, delay).
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private script: ReceiverScript = answerOk;
  /** Scripts of single events (by webhook-id), given how many times the event came before; they win over `script`. */
  private readonly eventScripts = new Map<string, (earlier: number) => ReceiverAnswer>();
  private waiters: { ready: () => boolean; resolve: () => void }[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<Receiver> {
    const server = createServer();
    const receiver = new Receiver(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const received: ReceivedRequest = {
          method: request.method ?? 'GET',
          path: request.url ?? '/',
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          receivedAt: Date.now(),
        };
        const index = receiver.requests.length;
        receiver.requests.push(received);
        const eventScript = receiver.eventScripts.get(String(received.headers['webhook-id']));
        const answer = eventScript ? eventScript(receiver.requestsOf(String(received.headers['webhook-id'])).length - 1) : receiver.script(received, index);
        const send = () => {
          response.writeHead(answer.status, answer.headers);
          response.end(answer.body ?? '');
          receiver.notify();
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs);
        else send();
      });
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  answer(script: ReceiverScript): void {
    this.script = script;
  }

  /** Answers the webhooks of event `eventId` as `script` says, given how many times it came before. */
  answerEvent(eventId: string, script: (earlier: number) => ReceiverAnswer): void {
    this.eventScripts.set(eventId, script);
  }

  /** Forgets the requests received so far and every script, and answers 200 again. */
  reset(): void {
    this.requests.length = 0;
    this.script = answerOk;
    this.eventScripts.clear();
  }

  /** The requests for one event (its webhook-id), in order of arrival. */
  requestsOf(eventId: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.headers['webhook-id'] === eventId);
  }

  /** Resolves once `count` requests have been answered, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedRequest[]> {
    return this.until(
      () => this.requests.length >= count,
      () => this.requests.slice(0, count),
      () => `receiver got ${this.requests.length} of ${count} requests in ${timeoutMs} ms`,
      timeoutMs,
    );
  }

  /**
   * Resolves with the answered webhook of event `eventId` (its `webhook-id`), received before
   * or after the call. A barrier for negative checks: send a marker event after the thing
   * that must not happen, wait for the marker, then assert it did not happen.
   */
  waitForEvent(eventId: string, timeoutMs = 10_000): Promise<ReceivedRequest> {
    const find = () => this.requests.find((request) => request.headers['webhook-id'] === eventId);
    return this.until(
      () => find() !== undefined,
      () => find() as ReceivedRequest,
      () => `receiver did not get event ${eventId} in ${timeoutMs} ms (it got ${this.requests.length} requests)`,
      timeoutMs,
    );
  }

  /** Webhook ids (event ids) received so far, in order of arrival. */
  eventIds(): string[] {
    return this.requests.map((request) => String(request.headers['webhook-id']));
  }

  private until<T>(ready: () => boolean, value: () => T, failure: () => string, timeoutMs: number): Promise<T> {
    if (ready()) return Promise.resolve(value());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== entry);
        reject(new Error(failure()));
      }, timeoutMs);
      const entry = {
        ready,
        resolve: () => {
          clearTimeout(timer);
          resolve(value());
        },
      };
      this.waiters.push(entry);
    });
  }

  private notify(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.ready()) return true;
      waiter.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
