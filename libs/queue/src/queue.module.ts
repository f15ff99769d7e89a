import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { createRedisConnection, RedisConnection } from './connection';
import { CircuitBreakers } from './circuit-breakers';
import { DeliveryQueues } from './delivery-queues';
import { AdaptiveRates } from './adaptive-rates';

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

/** One shared Redis connection, the producer side of the destination queues, and the circuit breakers and adaptive rates of destinations. */
@Global()
@Module({
  providers: [
    { provide: REDIS, inject: [DISPATCH_CONFIG], useFactory: (config: DispatchConfig) => createRedisConnection(config, 'dispatch') },
    {
      provide: DeliveryQueues,
      inject: [REDIS, DISPATCH_CONFIG],
      useFactory: (redis: RedisConnection, config: DispatchConfig) => new DeliveryQueues(redis, config.queuePrefix),
    },
    {
      provide: CircuitBreakers,
      inject: [REDIS, DISPATCH_CONFIG],
      useFactory: (redis: RedisConnection, config: DispatchConfig) => new CircuitBreakers(redis, config.queuePrefix),
    },
    {
      provide: AdaptiveRates,
      inject: [REDIS, DISPATCH_CONFIG],
      useFactory: (redis: RedisConnection, config: DispatchConfig) => new AdaptiveRates(redis, config.queuePrefix),
    },
    QueueLifecycle,
  ],
  exports: [REDIS, DeliveryQueues, CircuitBreakers, AdaptiveRates],
})
export class QueueModule {}
