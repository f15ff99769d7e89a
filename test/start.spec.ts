import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createTestDatabase, deleteQueueKeys, eventually, REDIS_URL, TEST_ENCRYPTION_KEY, uniqueQueuePrefix } from '@dispatch/testing';
import { freePort, LOOPBACK_ALLOWED } from './processes';

const ROOT = path.resolve(__dirname, '..');

/** Whether a process of this pid is running. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids `npm start` said it started `name` with, in order. */
function startedPids(output: string, name: 'api' | 'worker'): number[] {
  return [...output.matchAll(new RegExp(`^\\[${name}\\] started \\(pid (\\d+)\\)$`, 'gm'))].map((match) => Number(match[1]));
}

const ready = (url: string) =>
  fetch(url).then(
    (response) => (response.ok ? true : undefined),
    () => undefined,
  );

describe('npm start (scripts/start.mjs)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const prefix = uniqueQueuePrefix();
  let start: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    database = await createTestDatabase('start');
  });

  afterAll(async () => {
    if (start && start.exitCode === null && start.signalCode === null) start.kill('SIGTERM');
    for (const pid of [...startedPids(output, 'api'), ...startedPids(output, 'worker')]) if (running(pid)) process.kill(pid, 'SIGKILL');
    await deleteQueueKeys(prefix);
    await database?.drop();
  }, 30_000);

  it('starts a process that was killed again, says so, and stops every process on SIGTERM', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    start = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs'), '--no-build'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        DATABASE_URL: database.url,
        REDIS_URL,
        PORT: String(port),
        HOST: '127.0.0.1',
        DISPATCH_METRICS_PORT: String(metricsPort),
        DISPATCH_QUEUE_PREFIX: prefix,
        DISPATCH_BOOTSTRAP_KEY: 'admin-key-for-the-start-test-00',
        DISPATCH_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
        DISPATCH_EGRESS_ALLOW: LOOPBACK_ALLOWED,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    /** Waits for `check`; on a timeout the error carries what npm start printed. */
    const waitFor = <T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string) =>
      eventually(check, timeoutMs, what).catch((error: Error) => {
        throw new Error(`${error.message}\n${output}`);
      });
    const exited = new Promise<number | null>((resolve) => start?.on('exit', (code) => resolve(code)));
    start.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    start.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(async () => (output.includes('Dispatch is running:') ? true : undefined), 40_000, 'Dispatch running');
    await waitFor(() => ready(`http://127.0.0.1:${metricsPort}/health/ready`), 20_000, 'the worker ready');

    const [worker] = startedPids(output, 'worker');
    process.kill(worker, 'SIGKILL');
    await waitFor(async () => (startedPids(output, 'worker').length === 2 ? true : undefined), 10_000, 'the worker started again');
    expect(output).toContain('[worker] exited unexpectedly (SIGKILL); restarting in 1 s');
    await waitFor(() => ready(`http://127.0.0.1:${metricsPort}/health/ready`), 30_000, 'the new worker ready');
    expect(await ready(`http://127.0.0.1:${port}/health/ready`)).toBe(true);
    const pids = [...startedPids(output, 'api'), startedPids(output, 'worker')[1]];
    expect(pids.map(running)).toEqual([true, true]);

    start.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(pids.map(running)).toEqual([false, false]);
    expect(output).not.toContain('exited unexpectedly (SIGTERM)');
  }, 120_000);
});
