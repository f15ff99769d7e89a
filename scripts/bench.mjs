// npm run bench: throughput of Dispatch, end to end, against a bare BullMQ baseline.
//
// It runs the built API and worker as real processes on a fresh database and queue prefix,
// POSTs N events to /v1/events (a fixed number in flight) and measures, at a local webhook
// receiver: events accepted per second, deliveries per second end to end, and the latency from
// the 202 to the webhook. Then, in the same run and with the same receiver, it measures a bare
// BullMQ Queue + Worker (no API, no database) posting the same kind of signed webhook, and ends
// with one line: "ratio: <Dispatch deliveries/s ÷ bare deliveries/s>".
//
// Before the baseline it also sends events at a steady pace below saturation
// (--paced-events at --paced-rate per second) and reports their latency.
//
// On Linux it also reports the CPU time one delivery costs in each process (the API, the worker,
// PostgreSQL, Redis, and this process: the load and the receiver, or for the baseline its queue,
// worker and receiver), read from /proc before and after each measured phase.
//
// Usage: node scripts/bench.mjs [--events N] [--in-flight N] [--paced-events N] [--paced-rate N] [--no-build]
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

const { values: options } = parseArgs({
  options: {
    events: { type: 'string', default: '3000' },
    'in-flight': { type: 'string', default: '32' },
    'paced-events': { type: 'string', default: '300' },
    'paced-rate': { type: 'string', default: '100' },
    'no-build': { type: 'boolean', default: false },
  },
});
const EVENTS = positiveInteger(options.events, '--events');
const IN_FLIGHT = positiveInteger(options['in-flight'], '--in-flight');
const PACED_EVENTS = positiveInteger(options['paced-events'], '--paced-events');
const PACED_RATE = positiveInteger(options['paced-rate'], '--paced-rate');
const WARMUP = 500; // events (and bare jobs) sent first, so every process runs warmed-up code when measured
const WAIT_TIMEOUT_MS = 120_000;
// The bare worker runs as many jobs at once as one Dispatch worker does for one destination.
const CONCURRENCY = positiveInteger(process.env.DISPATCH_WORKER_CONCURRENCY ?? '10', 'DISPATCH_WORKER_CONCURRENCY');
const PAD = 'x'.repeat(200);
const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100; // of /proc's CPU times
const SAMPLE_EVERY = 50; // the receiver keeps every 50th request (and the first 5) to verify its signature

const runId = randomBytes(4).toString('hex');
const prefix = `bench${runId}`;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const databaseUrl = withDatabase(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', `dispatch_bench_${runId}`);
const bootstrapKey = randomBytes(16).toString('hex'); // 32 characters

// ---------------------------------------------------------------------------------------------
// Clean-up: every resource registers how to release it; it runs in reverse order, on success,
// on failure and on Ctrl+C.

const cleanups = [];
let cleanupFailed = false;
const children = []; // the API and worker processes: { name, child, stopping, exit }

function onCleanup(label, release) {
  cleanups.push({ label, release });
}

let cleaning = null;
function cleanUp() {
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

let interrupted = false;
process.once('SIGINT', () => {
  interrupted = true;
  console.error('\ninterrupted; cleaning up');
  cleanUp().finally(() => process.exit(130));
});

// ---------------------------------------------------------------------------------------------

let results;
let failure;
try {
  results = await main();
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
printSummary(results);
process.exit(0);

async function main() {
  console.log(`Dispatch throughput benchmark: ${EVENTS} events, ${IN_FLIGHT} requests in flight, worker concurrency ${CONCURRENCY}`);

  if (!options['no-build']) {
    step('Building (nx run-many -t build)');
    const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) throw new Error(`the build failed (exit ${build.status ?? build.signal})`);
  }

  step(`Database ${new URL(databaseUrl).pathname.slice(1)}, Redis prefix ${prefix}`);
  const { ensureDatabase, applyMigrations } = require(path.join(root, 'libs', 'db', 'dist', 'index.js'));
  onCleanup('drop the database', () => dropDatabase(databaseUrl));
  const { deleteQueueKeys } = require(path.join(root, 'libs', 'testing', 'dist', 'index.js'));
  onCleanup('delete the Redis keys', () => deleteQueueKeys(prefix, redisUrl));
  await ensureDatabase(databaseUrl);
  const applied = await applyMigrations(databaseUrl, path.join(root, 'prisma', 'migrations'));
  console.log(`  ${applied.length} migrations applied`);

  const receiver = await startReceiver();
  onCleanup('stop the receiver', () => receiver.close());
  console.log(`  receiver at ${receiver.url}`);

  step('Starting the API and the worker');
  const port = await freePort();
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    DISPATCH_BOOTSTRAP_KEY: bootstrapKey,
    DISPATCH_QUEUE_PREFIX: prefix,
    DISPATCH_METRICS_PORT: '0',
    DISPATCH_WORKER_CONCURRENCY: String(CONCURRENCY),
    LOG_LEVEL: 'warn',
  };
  const started = performance.now();
  startProcess('api', 'apps/api/dist/main.js', env);
  startProcess('worker', 'apps/worker/dist/main.js', env);
  const base = `http://127.0.0.1:${port}`;
  await waitUntilReady(`${base}/health/ready`, 60_000);
  console.log(`  ready in ${ms(performance.now() - started)} ms at ${base}`);

  const agent = new Agent({ connections: IN_FLIGHT, keepAliveTimeout: 10_000 });
  onCleanup('close the HTTP client', () => agent.close());
  const api = (method, route, body) => callApi(agent, base, method, route, body);

  const created = await api('POST', '/v1/destinations', {
    name: 'bench receiver',
    kind: 'webhook',
    config: { url: `${receiver.url}/hook` },
    eventTypes: ['bench.*'],
  });
  if (created.status !== 201) throw new Error(`POST /v1/destinations answered ${created.status}: ${JSON.stringify(created.body)}`);
  const secret = created.body.secret;
  console.log(`  destination ${created.body.id}`);

  step(`Warm-up: ${WARMUP} events through Dispatch`);
  const warmIds = range(WARMUP).map((i) => `warm_${runId}_${i}`);
  const warmPhase = receiver.startPhase('warm-up');
  await postEvents(agent, base, warmIds);
  await waitForAll(warmPhase, warmIds.length, 30_000);
  verifySamples(warmPhase, secret);
  console.log(`  ${warmPhase.received.size} received`);

  step(`End to end: ${EVENTS} events through Dispatch`);
  const ids = range(EVENTS).map((i) => `evt_${runId}_${i}`);
  const phase = receiver.startPhase('end to end');
  const counts = { accepted: 0 };
  const cpuBefore = cpuSnapshot();
  const progress = setInterval(() => console.log(`  … ${counts.accepted} accepted, ${phase.received.size} received`), 2_000);
  let sent;
  try {
    sent = await postEvents(agent, base, ids, counts);
    console.log(`  all ${EVENTS} accepted in ${ms(sent.lastAck - sent.firstSend)} ms`);
    await waitForAll(phase, EVENTS, WAIT_TIMEOUT_MS);
  } finally {
    clearInterval(progress);
  }
  const e2eCpu = cpuPerDelivery(cpuBefore, cpuSnapshot(), EVENTS, phase.lastAt - sent.firstSend);
  verifySamples(phase, secret);
  const e2e = { ...endToEndFigures(ids, sent, phase), cpu: e2eCpu };
  console.log(`  accepted   ${rate(e2e.acceptedPerSecond)} events/s`);
  console.log(`  delivered  ${rate(e2e.deliveredPerSecond)} deliveries/s (${e2e.receivedByLastAck} of ${EVENTS} had arrived by the last 202)`);
  console.log(`  accept-to-receive p50 ${ms(e2e.acceptToReceive.p50)} ms, p99 ${ms(e2e.acceptToReceive.p99)} ms`);
  console.log(`  send-to-receive   p50 ${ms(e2e.sendToReceive.p50)} ms, p99 ${ms(e2e.sendToReceive.p99)} ms`);
  printCpu(e2e.cpu, { bench: 'load and receiver' });
  if (phase.duplicates > 0) console.log(`  (${phase.duplicates} duplicate deliveries)`);

  step(`Latency at a steady ${PACED_RATE} events/s: ${PACED_EVENTS} events`);
  const pacedIds = range(PACED_EVENTS).map((i) => `paced_${runId}_${i}`);
  const pacedPhase = receiver.startPhase('paced');
  const pacedSent = await postPaced(agent, base, pacedIds, PACED_RATE);
  await waitForAll(pacedPhase, PACED_EVENTS, WAIT_TIMEOUT_MS);
  verifySamples(pacedPhase, secret);
  const paced = endToEndFigures(pacedIds, pacedSent, pacedPhase);
  console.log(`  accept-to-receive p50 ${ms(paced.acceptToReceive.p50)} ms, p99 ${ms(paced.acceptToReceive.p99)} ms`);
  console.log(`  send-to-receive   p50 ${ms(paced.sendToReceive.p50)} ms, p99 ${ms(paced.sendToReceive.p99)} ms`);

  // Stop Dispatch before the baseline so the two do not share the machine.
  step('Stopping the API and the worker');
  await stopProcesses();

  step(`Bare baseline: ${EVENTS} jobs through a BullMQ Queue + Worker (concurrency ${CONCURRENCY})`);
  const bare = await runBaseline(receiver);
  console.log(`  added      ${rate(bare.addedPerSecond)} jobs/s`);
  console.log(`  delivered  ${rate(bare.deliveredPerSecond)} deliveries/s`);
  printCpu(bare.cpu, { bench: 'queue, worker and receiver' });

  return { e2e, paced, bare };
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver: answers 200 at once and records, per webhook-id, when it arrived.

async function startReceiver() {
  let phase = null;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      const id = req.headers['webhook-id'];
      if (!phase || typeof id !== 'string') return;
      if (phase.received.has(id)) {
        phase.duplicates += 1;
        return;
      }
      phase.received.set(id, at);
      phase.lastAt = Math.max(phase.lastAt, at);
      const count = phase.received.size;
      if (count <= 5 || count % SAMPLE_EVERY === 0) {
        const { 'webhook-id': wid, 'webhook-timestamp': timestamp, 'webhook-signature': signature } = req.headers;
        phase.samples.push({ body: Buffer.concat(chunks).toString('utf8'), headers: { 'webhook-id': wid, 'webhook-timestamp': timestamp, 'webhook-signature': signature } });
      }
    });
  });
  server.keepAliveTimeout = 10_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    startPhase(name) {
      phase = { name, received: new Map(), samples: [], duplicates: 0, lastAt: 0 };
      return phase;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function waitForAll(phase, count, timeoutMs, check = () => {}) {
  const deadline = performance.now() + timeoutMs;
  while (phase.received.size < count) {
    checkProcesses();
    check();
    if (performance.now() > deadline) {
      throw new Error(`${phase.name}: the receiver got ${phase.received.size} of ${count} webhooks within ${timeoutMs / 1000} s`);
    }
    await sleep(20);
  }
}

function verifySamples(phase, secret) {
  const webhook = new Webhook(secret);
  for (const sample of phase.samples) {
    try {
      webhook.verify(sample.body, sample.headers);
    } catch (error) {
      throw new Error(`${phase.name}: the signature of webhook ${sample.headers['webhook-id']} does not verify (${error.message})`);
    }
  }
  console.log(`  ${phase.samples.length} sampled signatures verify`);
}

// ---------------------------------------------------------------------------------------------
// Dispatch: the processes, the API and the figures.

function startProcess(name, script, env) {
  const child = spawn(process.execPath, [path.join(root, script)], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { name, child, stopping: false, exit: once(child, 'exit') };
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) console.error(`  [${name}] ${line}`);
    });
  }
  children.push(entry);
  onCleanup(`stop the ${name}`, () => stopProcess(entry));
}

/** Throws if the API or the worker exited on its own. */
function checkProcesses() {
  for (const { name, child, stopping } of children) {
    if (!stopping && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`the ${name} process exited (${child.signalCode ?? `code ${child.exitCode}`})`);
    }
  }
}

async function stopProcess(entry) {
  entry.stopping = true;
  const { child } = entry;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), 35_000);
  await entry.exit;
  clearTimeout(kill);
}

async function stopProcesses() {
  const started = performance.now();
  await Promise.all(children.map(stopProcess));
  console.log(`  stopped in ${ms(performance.now() - started)} ms`);
}

async function waitUntilReady(url, timeoutMs) {
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

async function callApi(agent, base, method, route, body) {
  const response = await request(`${base}${route}`, {
    method,
    dispatcher: agent,
    headers: { authorization: `Bearer ${bootstrapKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text ? JSON.parse(text) : null };
}

/** POSTs one event per id, IN_FLIGHT at a time; records when each was sent and when its 202 came back. */
async function postEvent(agent, base, id, i) {
  const response = await request(`${base}/v1/events`, {
    method: 'POST',
    dispatcher: agent,
    headers: { authorization: `Bearer ${bootstrapKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, type: 'bench.created', data: { i, pad: PAD } }),
  });
  const text = await response.body.text();
  if (response.statusCode !== 202) throw new Error(`POST /v1/events answered ${response.statusCode}: ${text.slice(0, 300)}`);
}

/** Sends the events with IN_FLIGHT requests at a time, as fast as they are answered. */
async function postEvents(agent, base, ids, counts = { accepted: 0 }) {
  const sentAt = new Float64Array(ids.length);
  const ackAt = new Float64Array(ids.length);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < ids.length && !failed) {
      const i = next++;
      sentAt[i] = performance.now();
      try {
        await postEvent(agent, base, ids[i], i);
        ackAt[i] = performance.now();
        counts.accepted += 1;
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(range(Math.min(IN_FLIGHT, ids.length)).map(lane));
  return { sentAt, ackAt, firstSend: Math.min(...sentAt), lastAck: Math.max(...ackAt) };
}

/** Sends one event every 1/perSecond s, whether or not the previous one was answered. */
async function postPaced(agent, base, ids, perSecond) {
  const sentAt = new Float64Array(ids.length);
  const ackAt = new Float64Array(ids.length);
  const start = performance.now();
  await Promise.all(
    ids.map(async (id, i) => {
      await sleep(Math.max(0, start + (i * 1000) / perSecond - performance.now()));
      sentAt[i] = performance.now();
      await postEvent(agent, base, id, i);
      ackAt[i] = performance.now();
    }),
  );
  return { sentAt, ackAt, firstSend: Math.min(...sentAt), lastAck: Math.max(...ackAt) };
}

function endToEndFigures(ids, sent, phase) {
  const acceptToReceive = [];
  const sendToReceive = [];
  let receivedByLastAck = 0;
  ids.forEach((id, i) => {
    const at = phase.received.get(id);
    // Negative when the webhook arrived before this process had read the 202.
    acceptToReceive.push(at - sent.ackAt[i]);
    sendToReceive.push(at - sent.sentAt[i]);
    if (at <= sent.lastAck) receivedByLastAck += 1;
  });
  return {
    acceptedPerSecond: (ids.length * 1000) / (sent.lastAck - sent.firstSend),
    deliveredPerSecond: (ids.length * 1000) / (phase.lastAt - sent.firstSend),
    receivedByLastAck,
    acceptToReceive: percentiles(acceptToReceive),
    sendToReceive: percentiles(sendToReceive),
  };
}

// ---------------------------------------------------------------------------------------------
// The bare baseline: a BullMQ Queue + Worker whose processor signs and posts the webhook itself.

async function runBaseline(receiver) {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const queueName = `baseline-${runId}`;
  const queueConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });
  const queue = new Queue(queueName, { connection: queueConnection, prefix });
  let workerError = null;
  const worker = new Worker(
    queueName,
    async (job) => {
      const { id, type, timestamp, data } = job.data;
      const body = JSON.stringify({ id, type, timestamp, data });
      const seconds = Math.floor(Date.now() / 1000);
      const signature = `v1,${createHmac('sha256', key).update(`${id}.${seconds}.${body}`).digest('base64')}`;
      const response = await request(`${receiver.url}/hook`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(seconds), 'webhook-signature': signature },
        body,
      });
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode > 299) throw new Error(`receiver answered ${response.statusCode}`);
    },
    { connection: workerConnection, prefix, concurrency: CONCURRENCY },
  );
  worker.on('failed', (job, error) => {
    workerError ??= new Error(`baseline job ${job?.id} failed: ${error.message}`);
  });
  worker.on('error', (error) => {
    workerError ??= error;
  });
  onCleanup('close the baseline queue', async () => {
    await worker.close();
    await queue.close();
    await agent.close();
    queueConnection.disconnect();
    workerConnection.disconnect();
  });
  await worker.waitUntilReady();
  const check = () => {
    if (workerError) throw workerError;
  };

  const addJobs = async (ids) => {
    for (let start = 0; start < ids.length; start += 500) {
      const chunk = ids.slice(start, start + 500).map((id, offset) => ({
        name: 'deliver',
        data: { id, type: 'bench.created', timestamp: new Date().toISOString(), data: { i: start + offset, pad: PAD } },
        opts: { removeOnComplete: true, removeOnFail: false },
      }));
      await queue.addBulk(chunk);
    }
  };

  const warmPhase = receiver.startPhase('baseline warm-up');
  const warmIds = range(WARMUP).map((i) => `bwarm_${runId}_${i}`);
  await addJobs(warmIds);
  await waitForAll(warmPhase, WARMUP, 30_000, check);

  const phase = receiver.startPhase('baseline');
  const ids = range(EVENTS).map((i) => `bare_${runId}_${i}`);
  const cpuBefore = cpuSnapshot();
  const firstAdd = performance.now();
  await addJobs(ids);
  const lastAdd = performance.now();
  await waitForAll(phase, EVENTS, WAIT_TIMEOUT_MS, check);
  const cpu = cpuPerDelivery(cpuBefore, cpuSnapshot(), EVENTS, phase.lastAt - firstAdd);
  verifySamples(phase, secret);
  return {
    addedPerSecond: (EVENTS * 1000) / (lastAdd - firstAdd),
    deliveredPerSecond: (EVENTS * 1000) / (phase.lastAt - firstAdd),
    cpu,
  };
}

// ---------------------------------------------------------------------------------------------
// CPU time per delivery, from /proc (Linux only; elsewhere these figures are left out).

/** CPU milliseconds used so far by this process, the API, the worker, PostgreSQL and Redis; null without /proc. */
function cpuSnapshot() {
  if (!existsSync('/proc/self/stat')) return null;
  const running = children.filter(({ child }) => child.exitCode === null && child.signalCode === null);
  const servers = { postgres: [], redis: [] };
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    const command = readProc(`/proc/${pid}/comm`)?.trim() ?? '';
    if (command === 'postgres') servers.postgres.push(pid);
    else if (command === 'redis-server') servers.redis.push(pid);
  }
  return {
    bench: cpuMsOf('self'),
    ...Object.fromEntries(running.map(({ name, child }) => [name, cpuMsOf(child.pid)])),
    postgres: servers.postgres.reduce((sum, pid) => sum + cpuMsOf(pid), 0),
    redis: servers.redis.reduce((sum, pid) => sum + cpuMsOf(pid), 0),
  };
}

/** User + system CPU time of a process in ms (0 once it has gone). */
function cpuMsOf(pid) {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

function readProc(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** CPU ms per delivery of each part and in all, and how many cores were busy on average. */
function cpuPerDelivery(before, after, deliveries, elapsedMs) {
  if (!before || !after) return null;
  const parts = Object.fromEntries(Object.keys(after).map((name) => [name, (after[name] - (before[name] ?? 0)) / deliveries]));
  const total = Object.values(parts).reduce((sum, value) => sum + value, 0);
  return { parts, total, coresBusy: (total * deliveries) / elapsedMs };
}

function printCpu(cpu, labels) {
  if (!cpu) return;
  const names = { api: 'API', worker: 'worker', postgres: 'PostgreSQL', redis: 'Redis', ...labels };
  const parts = Object.entries(cpu.parts).map(([name, value]) => `${names[name] ?? name} ${value.toFixed(2)}`);
  console.log(`  CPU per delivery (ms): ${parts.join(', ')}; ${cpu.total.toFixed(2)} in all`);
  console.log(`  cores busy on average: ${cpu.coresBusy.toFixed(2)} of ${availableParallelism()}`);
}

// ---------------------------------------------------------------------------------------------
// Database and Redis clean-up.

async function dropDatabase(url) {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = '/postgres';
  const client = new pg.Client({ connectionString: target.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Output and small helpers.

function printSummary({ e2e, paced, bare }) {
  const ratio = e2e.deliveredPerSecond / bare.deliveredPerSecond;
  const rows = [
    ['Dispatch: events accepted per second', rate(e2e.acceptedPerSecond)],
    ['Dispatch: deliveries per second, end to end', rate(e2e.deliveredPerSecond)],
    ['Dispatch: accept-to-receive p50 / p99 (ms)', `${ms(e2e.acceptToReceive.p50)} / ${ms(e2e.acceptToReceive.p99)}`],
    ['Dispatch: send-to-receive p50 / p99 (ms)', `${ms(e2e.sendToReceive.p50)} / ${ms(e2e.sendToReceive.p99)}`],
    [`Dispatch at ${PACED_RATE}/s: send-to-receive p50 / p99 (ms)`, `${ms(paced.sendToReceive.p50)} / ${ms(paced.sendToReceive.p99)}`],
    ['Bare BullMQ: deliveries per second', rate(bare.deliveredPerSecond)],
    ...(e2e.cpu && bare.cpu
      ? [
          ['Dispatch: CPU per delivery, all processes (ms)', e2e.cpu.total.toFixed(2)],
          ['Bare BullMQ: CPU per delivery, all processes (ms)', bare.cpu.total.toFixed(2)],
        ]
      : []),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  console.log(`\nResults (${EVENTS} events, ${IN_FLIGHT} in flight, concurrency ${CONCURRENCY})`);
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value.padStart(13)}`);
  console.log(`Dispatch delivers at ${(ratio * 100).toFixed(0)}% of the bare BullMQ rate.`);
  console.log(`ratio: ${ratio.toFixed(2)}`);
}

function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { p50: at(50), p99: at(99) };
}

function step(title) {
  console.log(`\n== ${title}`);
}

function rate(value) {
  return value.toFixed(1);
}

function ms(value) {
  return value.toFixed(1);
}

function range(n) {
  return Array.from({ length: n }, (_, i) => i);
}

function sleep(msToWait) {
  return new Promise((resolve) => setTimeout(resolve, msToWait));
}

function positiveInteger(text, name) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${name} must be a positive integer, not "${text}"`);
    process.exit(2);
  }
  return value;
}

function withDatabase(url, name) {
  const target = new URL(url);
  target.pathname = `/${name}`;
  return target.toString();
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
