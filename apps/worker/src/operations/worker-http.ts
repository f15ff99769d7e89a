import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { PrismaClient } from '@dispatch/db';
import { checkReadiness } from '@dispatch/domain';
import { REDIS, RedisConnection } from '@dispatch/queue';
import { WorkerMetrics } from './worker-metrics';

export type HttpAnswer = { status: number; type: string; body: string; headers?: Record<string, string> };

const JSON_TYPE = 'application/json';

/** The methods it answers: it only ever reads. */
const READ_METHODS = ['GET', 'HEAD'];

/** The worker's only HTTP: `/metrics`, `/health/live` and `/health/ready`, read with GET or HEAD, on `HOST`. */
@Injectable()
export class WorkerHttp implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('worker');
  private server: Server | undefined;

  constructor(
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
    private readonly metrics: WorkerMetrics,
    private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: RedisConnection,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((request, response) => {
      void this.handle(request.method ?? 'GET', request.url ?? '/').then(({ status, type, body, headers }) => {
        response.writeHead(status, { 'content-type': type, ...headers });
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(this.config.worker.metricsPort, this.config.host, resolve));
    this.server = server;
    // The worker's start-up summary names it (main.ts).
    this.logger.debug(`Worker metrics on http://127.0.0.1:${this.port}/metrics`);
  }

  /** The port it listens on (once bootstrapped). */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null | undefined)?.port;
  }

  /** The answer to a request for `url`; never rejects: an unexpected error is a 500. */
  async handle(method: string, url: string): Promise<HttpAnswer> {
    if (!READ_METHODS.includes(method)) {
      return {
        status: 405,
        type: JSON_TYPE,
        body: `{"statusCode":405,"message":"Only ${READ_METHODS.join(' and ')} are answered here"}`,
        headers: { allow: READ_METHODS.join(', ') },
      };
    }
    try {
      return await this.answer(url);
    } catch (error) {
      this.logger.error(`${url}: ${error instanceof Error ? error.message : String(error)}`);
      return { status: 500, type: JSON_TYPE, body: '{"statusCode":500,"message":"Internal server error"}' };
    }
  }

  private async answer(url: string): Promise<HttpAnswer> {
    if (url === '/metrics') return { status: 200, type: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
    if (url === '/health/live') return { status: 200, type: JSON_TYPE, body: '{"status":"ok"}' };
    if (url === '/health/ready') {
      // Each check gets a second: ioredis queues commands while it reconnects, so a ping
      // without a bound would wait for Redis to come back.
      const readiness = await checkReadiness({ postgres: () => this.prisma.$queryRaw`SELECT 1`, redis: () => this.redis.ping() });
      return { status: readiness.status === 'ok' ? 200 : 503, type: JSON_TYPE, body: JSON.stringify(readiness) };
    }
    return { status: 404, type: JSON_TYPE, body: '{"statusCode":404,"message":"Not found"}' };
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve) ?? resolve(undefined));
  }
}
