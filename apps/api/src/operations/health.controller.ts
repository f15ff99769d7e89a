import { Controller, Get, HttpException, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { PrismaClient } from '@dispatch/db';
import { checkReadiness } from '@dispatch/domain';
import { REDIS, RedisConnection } from '@dispatch/queue';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: RedisConnection,
  ) {}

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /** Ready when PostgreSQL and Redis both answer within a second. */
  @Get('ready')
  async ready() {
    const body = await checkReadiness({ postgres: () => this.prisma.$queryRaw`SELECT 1`, redis: () => this.redis.ping() });
    if (body.status !== 'ok') throw new HttpException({ message: 'Not ready', ...body }, 503);
    return body;
  }
}
