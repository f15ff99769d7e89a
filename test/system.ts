import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { INestApplicationContext } from '@nestjs/common';
import { DispatchConfig, loadConfig } from '@dispatch/config';
import {
  ApiClient,
  createTestDatabase,
  createTestOrganization,
  deleteQueueKeys,
  Receiver,
  REDIS_URL,
  TEST_ENCRYPTION_KEY,
  TestOrganization,
  uniqueQueuePrefix,
} from '@dispatch/testing';
import { createApi } from '../apps/api/src/app';
import { createWorker } from '../apps/worker/src/worker';
import { LOOPBACK_ALLOWED } from './processes';

export type TestSystem = {
  config: DispatchConfig;
  url: string;
  organization: TestOrganization;
  /** Client with the organization's admin key. */
  client: ApiClient;
  api: NestFastifyApplication;
  /** Every route the API serves, as `METHOD /path` (HEAD routes Fastify adds for GET left out). */
  routes: readonly string[];
  worker: INestApplicationContext | undefined;
  startWorker: () => Promise<INestApplicationContext>;
  stopWorker: () => Promise<void>;
  close: () => Promise<void>;
};

export type SystemOptions = {
  /** Start the worker too (default). */
  worker?: boolean;
  /** Settings on top of the test defaults (`DISPATCH_*`, `REDIS_URL`, …). */
  env?: Record<string, string>;
  /** How the system reaches its database, given the database's own URL (e.g. through a proxy). */
  databaseUrl?: (url: string) => string;
};

/**
 * The environment every test system starts from. It is built here, never inherited from the
 * shell that runs the tests, so an operator's `DISPATCH_*` variables cannot change a result.
 */
export function testEnvironment(settings: Record<string, string>): Record<string, string> {
  return {
    REDIS_URL,
    DISPATCH_QUEUE_PREFIX: uniqueQueuePrefix(),
    HOST: '127.0.0.1',
    PORT: '0',
    DISPATCH_METRICS_PORT: '0',
    DISPATCH_WORKER_SCAN_MS: '200',
    DISPATCH_RECONCILE_MS: '1000',
    LOG_LEVEL: 'error',
    DISPATCH_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    // Test receivers listen on loopback, which the egress guard refuses by default.
    DISPATCH_EGRESS_ALLOW: LOOPBACK_ALLOWED,
    ...settings,
  };
}

/**
 * The API (and, unless `worker: false`, the worker) in this process, on a database and with a
 * queue prefix of their own (removed by `close`), short scan intervals, and a new
 * organization to work in.
 */
export async function startSystem(options: SystemOptions = {}): Promise<TestSystem> {
  const database = await createTestDatabase('test');
  // Uploaded files go to a directory of this system's own, removed with it.
  const filesDirectory = mkdtempSync(path.join(os.tmpdir(), 'dispatch-test-files-'));
  const config = loadConfig(
    testEnvironment({ DATABASE_URL: options.databaseUrl ? options.databaseUrl(database.url) : database.url, DISPATCH_FILES_DIR: filesDirectory, ...options.env }),
  );
  const api = await createApi(config);
  const routes: string[] = [];
  api
    .getHttpAdapter()
    .getInstance()
    .addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
    });
  await api.listen(0, '127.0.0.1');
  const url = (await api.getUrl()).replace('[::1]', '127.0.0.1');
  const organization = await createTestOrganization(database.url);
  const system: TestSystem = {
    config,
    url,
    organization,
    client: new ApiClient(url, organization.adminKey),
    api,
    routes,
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
        await deleteQueueKeys(config.queuePrefix, config.redisClusterNodes.length > 0 ? config.redisClusterNodes : config.redisUrl).catch(() => undefined);
        await database.drop();
        rmSync(filesDirectory, { recursive: true, force: true });
      }
    },
  };
  if (options.worker !== false) await system.startWorker();
  return system;
}

/**
 * A test system for the enclosing `describe`: started in `beforeAll`, closed in `afterAll`.
 * Its fields can be read only inside hooks and tests.
 */
export function useSystem(options: SystemOptions = {}): TestSystem {
  let current: TestSystem | undefined;
  beforeAll(async () => {
    current = await startSystem(options);
  }, 60_000);
  afterAll(async () => {
    await current?.close();
    current = undefined;
  }, 60_000);
  return lateBound('test system', () => current);
}

/** A scriptable receiver for the enclosing `describe`, reset before each test. */
export function useReceiver(): Receiver {
  let current: Receiver | undefined;
  beforeAll(async () => {
    current = await Receiver.start();
  });
  beforeEach(() => current?.reset());
  afterAll(async () => {
    await current?.close();
    current = undefined;
  });
  return lateBound('receiver', () => current);
}

/** An object that forwards to whatever `get` returns when it is used (set in a hook). */
export function lateBound<T extends object>(what: string, get: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_target, key) {
      const target = get();
      if (!target) throw new Error(`the ${what} is used outside a test: it starts in beforeAll`);
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(_target, key, value) {
      const target = get();
      if (!target) throw new Error(`the ${what} is used outside a test: it starts in beforeAll`);
      return Reflect.set(target, key, value, target);
    },
  });
}
