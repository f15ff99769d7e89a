import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { Redis } from 'ioredis';
import { createRedisConnection } from './connection';
import { DeliveryQueues } from './delivery-queues';

/** Injection token of the shared, non-blocking Redis connection. */
export const REDIS = Symbol('REDIS');

@Injectable()
class QueueLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly queues: DeliveryQueues,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.queues.close();
    this.redis.disconnect();
  }
}

/** One shared Redis connection and the producer side of the destination queues. */
@Global()
@Module({
  providers: [
    { provide: REDIS, inject: [DISPATCH_CONFIG], useFactory: (config: DispatchConfig) => createRedisConnection(config.redisUrl, 'dispatch') },
    {
      provide: DeliveryQueues,
      inject: [REDIS, DISPATCH_CONFIG],
      useFactory: (redis: Redis, config: DispatchConfig) => new DeliveryQueues(redis, config.queuePrefix),
    },
    QueueLifecycle,
  ],
  exports: [REDIS, DeliveryQueues],
})
export class QueueModule {}
