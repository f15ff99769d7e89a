import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DispatchConfig, nestLogger } from '@dispatch/config';
import { NatsIngest } from './ingest/nats-ingest';
import { WorkerModule } from './worker.module';

/**
 * The worker: supervisor of the destination queues, delivery processor, reconciler, and the
 * ingest from NATS, started last, once everything else has.
 */
export async function createWorker(config: DispatchConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: nestLogger(config, 'worker') });
  app.get(NatsIngest).start();
  return app;
}
