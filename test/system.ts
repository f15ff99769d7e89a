import type { NestExpressApplication } from '@nestjs/platform-express';
import type { INestApplicationContext } from '@nestjs/common';
import { DispatchConfig, loadConfig } from '@dispatch/config';
import { ApiClient, createTestOrganization, deleteQueueKeys, REDIS_URL, TestOrganization, uniqueQueuePrefix } from '@dispatch/testing';
import { createApi } from '../apps/api/src/app';
import { createWorker } from '../apps/worker/src/worker';

export type TestSystem = {
  config: DispatchConfig;
  url: string;
  organization: TestOrganization;
  /** Client with the organization's admin key. */
  client: ApiClient;
  api: NestExpressApplication;
  worker: INestApplicationContext | undefined;
  startWorker: () => Promise<INestApplicationContext>;
  stopWorker: () => Promise<void>;
  close: () => Promise<void>;
};

/** The database of this test run, made by the global setup. */
export function testDatabaseUrl(): string {
  const url = process.env.DISPATCH_TEST_DATABASE_URL;
  if (!url) throw new Error('DISPATCH_TEST_DATABASE_URL is not set: run the tests with "npm test"');
  return url;
}

/**
 * The API (and, unless `worker: false`, the worker) in this process on the test database,
 * with a queue prefix of its own and short scan intervals; a new organization to work in.
 */
export async function startSystem(options: { worker?: boolean; env?: Record<string, string> } = {}): Promise<TestSystem> {
  const config = loadConfig({
    ...process.env,
    DATABASE_URL: testDatabaseUrl(),
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
      await system.stopWorker();
      await api.close();
      await deleteQueueKeys(config.queuePrefix);
    },
  };
  if (options.worker !== false) await system.startWorker();
  return system;
}
