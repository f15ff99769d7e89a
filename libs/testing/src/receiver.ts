import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ReceivedRequest = {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
};

export type ReceiverAnswer = { status: number; body?: string; headers?: Record<string, string>; delayMs?: number };

/** Decides the answer to each request; the default answers 200. */
export type ReceiverScript = (request: ReceivedRequest, index: number) => ReceiverAnswer;

/**
 * A scriptable webhook receiver on loopback: records every request and answers as the
 * script says (status, body, headers, delay).
 */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  private script: ReceiverScript = () => ({ status: 200, body: 'ok' });
  private waiters: { count: number; resolve: () => void }[] = [];

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
        const answer = receiver.script(received, index);
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

  /** Resolves once `count` requests have been answered, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedRequest[]> {
    if (this.requests.length >= count) return Promise.resolve(this.requests.slice(0, count));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver got ${this.requests.length} of ${count} requests in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.requests.slice(0, count));
        },
      });
    });
  }

  private notify(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (this.requests.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
