import './tracing';
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfig } from '@dispatch/config';
import { logUnhandledRejections } from '@dispatch/domain';
import { WorkerHttp } from './operations/worker-http';
import { workerSummary } from './operations/startup-summary';
import { createWorker } from './worker';

async function main(): Promise<void> {
  logUnhandledRejections((message) => Logger.error(message, 'worker'));
  const config = loadConfig();
  const app = await createWorker(config);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    Logger.log(`${signal}: no new jobs; waiting up to ${config.worker.drainTimeoutMs} ms for attempts in flight`, 'worker');
    const deadline = setTimeout(() => {
      Logger.error('Drain timeout passed; exiting with attempts in flight (their jobs will run again)', 'worker');
      process.exit(1);
    }, config.worker.drainTimeoutMs);
    deadline.unref();
    app.close().then(
      () => process.exit(0),
      (error: Error) => {
        Logger.error(error.message, 'worker');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  Logger.log(workerSummary(config.logFormat, config, app.get(WorkerHttp).port ?? config.worker.metricsPort), 'worker');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
