import { Controller, Get, HttpException, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { PrismaClient } from '@dispatch/db';
import { REDIS } from '@dispatch/queue';
import type { Redis } from 'ioredis';

const CHECK_TIMEOUT_MS = 1_000;

function within<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS).unref())]);
}

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /** Ready when PostgreSQL and Redis both answer within a second. */
  @Get('ready')
  async ready() {
    const [postgres, redis] = await Promise.all([
      within(this.prisma.$queryRaw`SELECT 1`).then(() => 'up', (error: Error) => `down: ${error.message}`),
      within(this.redis.ping()).then(() => 'up', (error: Error) => `down: ${error.message}`),
    ]);
    const body = { status: postgres === 'up' && redis === 'up' ? 'ok' : 'unavailable', checks: { postgres, redis } };
    if (body.status !== 'ok') throw new HttpException({ message: 'Not ready', ...body }, 503);
    return body;
  }
}
