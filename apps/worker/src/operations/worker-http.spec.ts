import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { DispatchConfig } from '@dispatch/config';
import type { PrismaClient } from '@dispatch/db';
import { WorkerHttp } from './worker-http';
import type { WorkerMetrics } from './worker-metrics';

const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A promise that never settles: a client waiting for a connection that does not come back. */
const never = () => new Promise<never>(() => undefined);

function setup(host = '127.0.0.1') {
  const mocks = {
    config: { host, worker: { metricsPort: 0 } },
    prisma: { $queryRaw: jest.fn((): Promise<unknown> => Promise.resolve([{ ok: 1 }])) },
    redis: { ping: jest.fn((): Promise<unknown> => Promise.resolve('PONG')) },
    metrics: { registry: { contentType: METRICS_TYPE, metrics: jest.fn((): Promise<string> => Promise.resolve('dispatch_attempts_total 0\n')) } },
    logger: {
      error: jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined),
      log: jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined),
    },
  };
  const sut = new WorkerHttp(
    mocks.config as unknown as DispatchConfig,
    mocks.metrics as unknown as WorkerMetrics,
    mocks.prisma as unknown as PrismaClient,
    mocks.redis as unknown as Redis,
  );
  return { sut, mocks };
}

/** Tracks whether a promise has settled yet. */
function track<T>(promise: Promise<T>): { settled: () => boolean; value: Promise<T> } {
  let settled = false;
  const value = promise.finally(() => (settled = true));
  return { settled: () => settled, value };
}

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('WorkerHttp /health/ready', () => {
  it('answers 200 with both checks up when PostgreSQL and Redis answer', async () => {
    const { sut, mocks } = setup();
    const answer = await sut.handle('GET', '/health/ready');
    expect(answer).toEqual({ status: 200, type: 'application/json', body: expect.any(String) });
    expect(JSON.parse(answer.body)).toEqual({ status: 'ok', checks: { postgres: 'up', redis: 'up' } });
    expect(mocks.prisma.$queryRaw).toHaveBeenCalledTimes(1);
    expect(mocks.redis.ping).toHaveBeenCalledTimes(1);
  });

  it('answers 503 after one second, Redis down, while a ping gets no answer (ioredis queues it while reconnecting)', async () => {
    jest.useFakeTimers();
    const { sut, mocks } = setup();
    mocks.redis.ping.mockImplementation(never);
    const answer = track(sut.handle('GET', '/health/ready'));
    await jest.advanceTimersByTimeAsync(999);
    expect(answer.settled()).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(answer.settled()).toBe(true);
    const { status, body } = await answer.value;
    expect(status).toBe(503);
    expect(JSON.parse(body)).toEqual({ status: 'unavailable', checks: { postgres: 'up', redis: 'down: timed out' } });
  });

  it('bounds the checks together, not one after the other: both hanging still answers after one second', async () => {
    jest.useFakeTimers();
    const { sut, mocks } = setup();
    mocks.redis.ping.mockImplementation(never);
    mocks.prisma.$queryRaw.mockImplementation(never);
    const answer = track(sut.handle('GET', '/health/ready'));
    await jest.advanceTimersByTimeAsync(1000);
    expect(answer.settled()).toBe(true);
    const { status, body } = await answer.value;
    expect(status).toBe(503);
    expect(JSON.parse(body)).toEqual({ status: 'unavailable', checks: { postgres: 'down: timed out', redis: 'down: timed out' } });
  });

  it('answers 503 at once with the error, PostgreSQL down, when the query fails', async () => {
    jest.useFakeTimers();
    const { sut, mocks } = setup();
    mocks.prisma.$queryRaw.mockImplementation(() => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')));
    const answer = track(sut.handle('GET', '/health/ready'));
    await jest.advanceTimersByTimeAsync(0);
    expect(answer.settled()).toBe(true);
    const { status, body } = await answer.value;
    expect(status).toBe(503);
    expect(JSON.parse(body)).toEqual({ status: 'unavailable', checks: { postgres: 'down: connect ECONNREFUSED 127.0.0.1:5432', redis: 'up' } });
  });

  it('counts a check that throws before returning a promise as down', async () => {
    const { sut, mocks } = setup();
    mocks.redis.ping.mockImplementation(() => {
      throw new Error('Connection is closed.');
    });
    const { status, body } = await sut.handle('GET', '/health/ready');
    expect(status).toBe(503);
    expect(JSON.parse(body)).toEqual({ status: 'unavailable', checks: { postgres: 'up', redis: 'down: Connection is closed.' } });
  });
});

describe('WorkerHttp other routes', () => {
  it('answers /health/live 200 without asking PostgreSQL or Redis', async () => {
    const { sut, mocks } = setup();
    expect(await sut.handle('GET', '/health/live')).toEqual({ status: 200, type: 'application/json', body: '{"status":"ok"}' });
    expect(mocks.prisma.$queryRaw).not.toHaveBeenCalled();
    expect(mocks.redis.ping).not.toHaveBeenCalled();
  });

  it('answers /metrics with the registry text and its content type', async () => {
    const { sut } = setup();
    expect(await sut.handle('GET', '/metrics')).toEqual({ status: 200, type: METRICS_TYPE, body: 'dispatch_attempts_total 0\n' });
  });

  it('answers 404 elsewhere', async () => {
    const { sut } = setup();
    expect((await sut.handle('GET', '/nope')).status).toBe(404);
  });

  it('answers 500 (and logs) when answering fails unexpectedly', async () => {
    const { sut, mocks } = setup();
    mocks.metrics.registry.metrics.mockImplementation(() => Promise.reject(new Error('collector broke')));
    expect(await sut.handle('GET', '/metrics')).toEqual({ status: 500, type: 'application/json', body: '{"statusCode":500,"message":"Internal server error"}' });
    expect(mocks.logger.error).toHaveBeenCalledWith('/metrics: collector broke');
  });

  it('over HTTP, a failure is answered 500 instead of leaving the request open', async () => {
    const { sut, mocks } = setup();
    mocks.metrics.registry.metrics.mockImplementation(() => Promise.reject(new Error('collector broke')));
    await sut.onApplicationBootstrap();
    try {
      const response = await fetch(`http://127.0.0.1:${sut.port}/metrics`, { signal: AbortSignal.timeout(2_000) });
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ statusCode: 500, message: 'Internal server error' });
      const live = await fetch(`http://127.0.0.1:${sut.port}/health/live`, { signal: AbortSignal.timeout(2_000) });
      expect(live.status).toBe(200);
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});

describe('WorkerHttp methods and address', () => {
  it('answers every other method 405 with Allow: GET, HEAD, without collecting anything', async () => {
    const { sut, mocks } = setup();
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']) {
      const answer = await sut.handle(method, '/metrics');
      expect([method, answer.status, answer.headers]).toEqual([method, 405, { allow: 'GET, HEAD' }]);
      expect(JSON.parse(answer.body)).toEqual({ statusCode: 405, message: 'Only GET and HEAD are answered here' });
    }
    expect(mocks.metrics.registry.metrics).not.toHaveBeenCalled();
  });

  it('over HTTP, answers GET and HEAD and refuses a POST with 405 and Allow', async () => {
    const { sut } = setup();
    await sut.onApplicationBootstrap();
    try {
      const url = `http://127.0.0.1:${sut.port}/metrics`;
      expect((await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(2_000) })).status).toBe(200);
      const post = await fetch(url, { method: 'POST', body: 'x', signal: AbortSignal.timeout(2_000) });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
      expect((await fetch(url, { signal: AbortSignal.timeout(2_000) })).status).toBe(200);
    } finally {
      await sut.onApplicationShutdown();
    }
  });

  it('listens on HOST only: bound to 127.0.0.2, it is not reachable on 127.0.0.1', async () => {
    const { sut } = setup('127.0.0.2');
    await sut.onApplicationBootstrap();
    try {
      expect((await fetch(`http://127.0.0.2:${sut.port}/health/live`, { signal: AbortSignal.timeout(2_000) })).status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${sut.port}/health/live`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
    } finally {
      await sut.onApplicationShutdown();
    }
  });
});
