import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { createRedisConnection, RedisConnection } from './connection';
import { DeliveryQueues } from './delivery-queues';

/** Injection token of the shared, non-blocking Redis connection (`RedisConnection`: one server's or a Redis Cluster's). */
export const REDIS = Symbol('REDIS');

@Injectable()
class QueueLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly queues: DeliveryQueues,
    @Inject(REDIS) private readonly redis: RedisConnection,
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
    { provide: REDIS, inject: [DISPATCH_CONFIG], useFactory: (config: DispatchConfig) => createRedisConnection(config, 'dispatch') },
    {
      provide: DeliveryQueues,
      inject: [REDIS, DISPATCH_CONFIG],
      useFactory: (redis: RedisConnection, config: DispatchConfig) => new DeliveryQueues(redis, config.queuePrefix),
    },
    QueueLifecycle,
  ],
  exports: [REDIS, DeliveryQueues],
})
export class QueueModule {}
