import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { INestApplicationContext } from '@nestjs/common';
import { DispatchConfig, loadConfig } from '@dispatch/config';
import { ApiClient, createTestDatabase, createTestOrganization, deleteQueueKeys, REDIS_URL, TestOrganization, uniqueQueuePrefix } from '@dispatch/testing';
import { createApi } from '../apps/api/src/app';
import { createWorker } from '../apps/worker/src/worker';

export type TestSystem = {
  config: DispatchConfig;
  url: string;
  organization: TestOrganization;
  /** Client with the organization's admin key. */
  client: ApiClient;
  api: NestFastifyApplication;
  worker: INestApplicationContext | undefined;
  startWorker: () => Promise<INestApplicationContext>;
  stopWorker: () => Promise<void>;
  close: () => Promise<void>;
};

export type SystemOptions = {
  /** Start the worker too (default). */
  worker?: boolean;
  env?: Record<string, string>;
  /** How the system reaches its database, given the database's own URL (e.g. through a proxy). */
  databaseUrl?: (url: string) => string;
};

/**
 * The API (and, unless `worker: false`, the worker) in this process, on a database and with a
 * queue prefix of their own (removed by `close`), short scan intervals, and a new
 * organization to work in.
 */
export async function startSystem(options: SystemOptions = {}): Promise<TestSystem> {
  const database = await createTestDatabase('test');
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: options.databaseUrl ? options.databaseUrl(database.url) : database.url,
    REDIS_URL,
    DISPATCH_QUEUE_PREFIX: uniqueQueuePrefix(),
    HOST: '127.0.0.1',
    PORT: '0',
    DISPATCH_METRICS_PORT: '0',
    DISPATCH_WORKER_SCAN_MS: '200',
    DISPATCH_RECONCILE_MS: '1000',
    LOG_LEVEL: 'error',
    ...options.env,
  });
  const api = await createApi(config);
  await api.listen(0, '127.0.0.1');
  const url = (await api.getUrl()).replace('[::1]', '127.0.0.1');
  const organization = await createTestOrganization(config.databaseUrl);
  const system: TestSystem = {
    config,
    url,
    organization,
    client: new ApiClient(url, organization.adminKey),
    api,
    worker: undefined,
    startWorker: async () => {
      system.worker = await createWorker(config);
      return system.worker;
    },
    stopWorker: async () => {
      await system.worker?.close();
      system.worker = undefined;
    },
    close: async () => {
      try {
        await system.stopWorker();
        await api.close();
      } finally {
        await deleteQueueKeys(config.queuePrefix);
        await database.drop();
      }
    },
  };
  if (options.worker !== false) await system.startWorker();
  return system;
}
