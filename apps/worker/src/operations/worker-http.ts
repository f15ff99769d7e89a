import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { PrismaClient } from '@dispatch/db';
import { REDIS } from '@dispatch/queue';
import { WorkerMetrics } from './worker-metrics';

/** The worker's only HTTP: `/metrics`, `/health/live` and `/health/ready`. */
@Injectable()
export class WorkerHttp implements OnApplicationBootstrap, OnApplicationShutdown {
  private server: Server | undefined;

  constructor(
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
    private readonly metrics: WorkerMetrics,
    private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((request, response) => {
      void this.answer(request.url ?? '/').then(({ status, type, body }) => {
        response.writeHead(status, { 'content-type': type });
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(this.config.worker.metricsPort, this.config.host, resolve));
    this.server = server;
    Logger.log(`Worker metrics on http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, 'worker');
  }

  private async answer(url: string): Promise<{ status: number; type: string; body: string }> {
    if (url === '/metrics') return { status: 200, type: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
    if (url === '/health/live') return { status: 200, type: 'application/json', body: '{"status":"ok"}' };
    if (url === '/health/ready') {
      const [postgres, redis] = await Promise.all([
        this.prisma.$queryRaw`SELECT 1`.then(() => 'up', () => 'down'),
        this.redis.ping().then(() => 'up', () => 'down'),
      ]);
      const ok = postgres === 'up' && redis === 'up';
      return { status: ok ? 200 : 503, type: 'application/json', body: JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks: { postgres, redis } }) };
    }
    return { status: 404, type: 'application/json', body: '{"statusCode":404,"message":"Not found"}' };
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve) ?? resolve(undefined));
  }
}
