// What the benchmark scripts share: clean-up of everything they start (in reverse order, on
// success, on failure and on Ctrl+C), the processes they start, calls to Dispatch's API, and
// small helpers. One benchmark runs per process, so this module's state is that run's.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { request } from 'undici';
import { freePort, startRedisServer } from './redis-server.mjs';

/** The repository's root folder. */
export const root = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
const require = createRequire(import.meta.url);

const cleanups = [];
let cleaning = null;
let cleanupFailed = false;
let interrupted = false;

/** Every process started: `{ name, child, stopping, exit }`; one that exits on its own fails the run. */
export const children = [];

export function onCleanup(label, release) {
  cleanups.push({ label, release });
}

/** Releases everything registered, newest first; resolves when done (once, however often asked). */
export function cleanUp() {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const { label, release } = cleanups.pop();
      try {
        await release();
      } catch (error) {
        cleanupFailed = true;
        console.error(`clean-up: ${label} failed: ${error.message}`);
      }
    }
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal === 'SIGINT' ? 'interrupted' : 'terminated'}; cleaning up`);
    cleanUp().finally(() => process.exit(130));
  });
}

/**
 * Runs `main`, then cleans up, and exits: 130 when interrupted, 1 when it or the clean-up
 * failed, else 0 after `report` printed what `main` returned.
 */
export async function runBenchmark(main, report) {
  let result;
  let failure;
  try {
    result = await main();
  } catch (error) {
    failure = error;
  }
  await cleanUp();
  if (interrupted) process.exit(130);
  if (failure) {
    console.error(`\nbench failed: ${failure.message}`);
    process.exit(1);
  }
  if (cleanupFailed) {
    console.error('\nbench failed: could not clean up (see above)');
    process.exit(1);
  }
  report(result);
  process.exit(0);
}

/** Keeps track of a child process: its output is shown prefixed with its name; it is stopped at clean-up. */
export function startProcess(name, child, askToStop = () => child.kill('SIGTERM')) {
  const exit = once(child, 'exit');
  exit.catch(() => {});
  const entry = { name, child, stopping: false, exit, askToStop };
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) console.error(`  [${name}] ${line}`);
    });
  }
  children.push(entry);
  onCleanup(`stop the ${name}`, () => stopProcess(entry));
  return entry;
}

/** A Redis server of the benchmark's own, tracked like the processes and stopped at clean-up. */
export async function startOwnRedis(name) {
  const server = await startRedisServer(name);
  const entry = { name: `${name} Redis server`, child: server.child, stopping: false, exit: server.exit };
  children.push(entry);
  onCleanup(`stop the ${name} Redis server`, () => {
    entry.stopping = true;
    return server.stop();
  });
  return server;
}

/** Asks a process to stop, and kills it if it has not within 35 s. */
export async function stopProcess(entry) {
  entry.stopping = true;
  const { child } = entry;
  if (child.exitCode !== null || child.signalCode !== null) return;
  entry.askToStop();
  const kill = setTimeout(() => child.kill('SIGKILL'), 35_000);
  await entry.exit;
  clearTimeout(kill);
}

/** Throws if a process the benchmark started exited on its own. */
export function checkProcesses() {
  for (const { name, child, stopping } of children) {
    if (!stopping && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`the ${name} process exited (${child.signalCode ?? `code ${child.exitCode}`})`);
    }
  }
}

/** Resolves as the promise does, or rejects as soon as a process the benchmark started exits on its own. */
export async function withChildren(promise) {
  let settled = false;
  const watch = (async () => {
    while (!settled) {
      checkProcesses();
      await sleep(50);
    }
  })();
  try {
    return await Promise.race([promise, watch]);
  } finally {
    settled = true;
  }
}

/** Waits until `url` answers 200, failing as soon as a process the benchmark started exits. */
export async function waitUntilReady(url, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    checkProcesses();
    const ok = await fetch(url).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/**
 * Dispatch's API and worker, built, as processes of their own on `databaseUrl` and `redisUrl`,
 * on a free loopback port, with the settings every benchmark gives them (loopback allowed by
 * the egress guard, a fresh encryption key, a per-key request limit never reached) and `env` on
 * top. Resolves once the API answers ready. With `apis` above 1, as many API processes, each on
 * a port of its own with the same settings, started one after the other once the one before is
 * ready: `apis` lists them all (`{ api, base }`), `api` and `base` are the first.
 */
export async function startDispatch({ databaseUrl, redisUrl, bootstrapKey, prefix, env = {}, apis: apiCount = 1 }) {
  const port = await freePort();
  const settings = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    DISPATCH_BOOTSTRAP_KEY: bootstrapKey,
    DISPATCH_QUEUE_PREFIX: prefix,
    DISPATCH_METRICS_PORT: '0',
    // The benchmarks' receivers listen on loopback, which the egress guard refuses by default.
    DISPATCH_EGRESS_ALLOW: '127.0.0.0/8,::1/128',
    // A benchmark's database is its own and dropped afterwards: a key of its own too.
    DISPATCH_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    // Counted as in production (one Redis round trip per request), but never reached.
    DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE: '100000000',
    LOG_LEVEL: 'warn',
    ...env,
  };
  const app = (name, main) => startProcess(name, spawn(process.execPath, [path.join(root, main)], { cwd: root, env: settings, stdio: ['ignore', 'pipe', 'pipe'] }));
  const api = app('api', 'apps/api/dist/main.js');
  const worker = app('worker', 'apps/worker/dist/main.js');
  const base = `http://127.0.0.1:${port}`;
  await waitUntilReady(`${base}/health/ready`, 60_000);
  const apis = [{ api, base }];
  while (apis.length < apiCount) {
    const more = await freePort();
    const entry = startProcess(
      `api ${apis.length + 1}`,
      spawn(process.execPath, [path.join(root, 'apps/api/dist/main.js')], { cwd: root, env: { ...settings, PORT: String(more) }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    apis.push({ api: entry, base: `http://127.0.0.1:${more}` });
    await waitUntilReady(`${apis.at(-1).base}/health/ready`, 60_000);
  }
  return { api, worker, base, apis };
}

/** One call to Dispatch's API with `key`: its status and its body, parsed. */
export async function callApi(agent, base, key, method, route, body) {
  const response = await request(`${base}${route}`, {
    method,
    dispatcher: agent,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text ? JSON.parse(text) : null };
}

/** Builds every project (`nx run-many -t build`) as `npm start` would run them. */
export function buildAll() {
  step('Building (nx run-many -t build)');
  const nx = require.resolve('nx/package.json');
  const bin = path.join(path.dirname(nx), require(nx).bin.nx);
  // Nothing off loopback: no Nx Cloud, and no update check by the npm that runs each project's build.
  const env = { ...process.env, NX_NO_CLOUD: 'true', npm_config_update_notifier: 'false' };
  const build = spawnSync(process.execPath, [bin, 'run-many', '-t', 'build', '--output-style=static'], { cwd: root, stdio: 'inherit', env });
  if (build.status !== 0) throw new Error(`the build failed (exit ${build.status ?? build.signal})`);
}

/** Creates the database `name` at `url` (`url` names it), applies the migrations, and drops it at clean-up; answers the migrations applied. */
export async function prepareDatabase(url, name) {
  const { ensureDatabase, applyMigrations } = require(path.join(root, 'libs', 'db', 'dist', 'index.js'));
  onCleanup('drop the database', () => dropDatabase(url, name));
  await ensureDatabase(url);
  return applyMigrations(url, path.join(root, 'prisma', 'migrations'));
}

/** Drops the database `name` of the server at `url`. */
export async function dropDatabase(url, name) {
  const client = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A process's resident memory now (VmRSS), or its peak so far (`'VmHWM'`), in bytes (Linux: /proc/<pid>/status); 0 when unknown. */
export function residentBytes(pid, field = 'VmRSS') {
  try {
    const kb = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function step(title) {
  console.log(`\n== ${title}`);
}

export function sleep(msToWait) {
  return new Promise((resolve) => setTimeout(resolve, msToWait));
}

/** `text` as a positive integer; anything else is a usage error naming the option. */
export function positiveInteger(text, name, usageError) {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < 1) usageError(`${name} must be a positive integer, not "${text}"`);
  return value;
}

/** The URL, if its host is loopback (else a usage error): the benchmark sends nothing anywhere else. */
export function loopbackDatabaseUrl(url, usageError) {
  let host;
  try {
    host = new URL(url).hostname;
  } catch {
    usageError(`DATABASE_URL is not a URL: "${url}"`);
  }
  if (!(host === 'localhost' || host === '[::1]' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host))) {
    usageError(`DATABASE_URL must name PostgreSQL on loopback (127.0.0.1, ::1 or localhost), not "${host}": the benchmark sends traffic only to loopback`);
  }
  return url;
}

export function withDatabase(url, name) {
  const target = new URL(url);
  target.pathname = `/${name}`;
  return target.toString();
}
