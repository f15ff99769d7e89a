import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DispatchConfig, logLevels } from '@dispatch/config';
import { WorkerModule } from './worker.module';

/** The worker: supervisor of the destination queues, delivery processor and reconciler. */
export function createWorker(config: DispatchConfig): Promise<INestApplicationContext> {
  return NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger: logLevels(config.logLevel) });
}
