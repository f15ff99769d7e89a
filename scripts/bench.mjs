// npm run bench: throughput of Dispatch, end to end, against a bare BullMQ baseline.
//
// Processes. Every part runs in a process of its own, so no side shares an event loop with
// another part:
// - this process, the orchestrator: it runs the load (POST /v1/events, --in-flight requests at a
//   time; POST /v1/events/batch, --batch-size events a request, --batch-in-flight requests at a
//   time) and adds the bare side's jobs (BullMQ addBulk), samples CPU and prints the figures;
// - Dispatch's API and worker, built, as real processes on a fresh database and queue prefix;
// - the bare baseline's worker (scripts/bench/bare-worker.mjs): a BullMQ Worker, concurrency
//   DISPATCH_WORKER_CONCURRENCY (10 by default: as many requests to the receiver at once as
//   Dispatch's worker makes to one destination, which holds as many more jobs claimed ahead), whose processor signs
//   each job with a Standard Webhooks signature (HMAC-SHA256) and POSTs it with undici;
// - the webhook receiver (scripts/bench/receiver.mjs), used by both sides;
// - two Redis servers of the benchmark's own (the machine's redis-server binary on free loopback
//   ports, saving nothing): one for Dispatch, one for the bare side, so each side's Redis CPU is
//   exactly its own.
// The orchestrator adds the bare jobs rather than the bare process itself so that the two sides
// are alike: on both, the producer is this process and the worker's event loop does nothing but
// work the queue; the orchestrator's CPU is counted on both sides (as the load, or the job
// adder), and so is the small cost of the CPU sampling it does. The processes talk over IPC
// (fork + process.send); every time that crosses processes is epoch milliseconds with
// sub-millisecond resolution (performance.timeOrigin + performance.now()).
//
// Phases. After a warm-up (--events events through Dispatch one a request and as many in batches,
// and --events bare jobs, once), --rounds rounds (3
// by default) each measure both sides with --events events or jobs, in alternating order: round 1
// Dispatch then bare, round 2 bare then Dispatch, round 3 Dispatch then bare, and so on. Between
// the two, each round has a batch phase: Dispatch again, with the same number of events sent in
// batches (POST /v1/events/batch), so it too is next to the bare phase of its round. Each round
// ends with a paced phase (--paced-events at --paced-rate per second, below saturation) for
// Dispatch's latency, so that figure too has a median and a spread. Before each phase the benchmark
// waits until the processes of both sides are idle and the rest of the machine is quiet (at most
// 20 s). Every phase has an id prefix of its own; the receiver files each arrival under the phase its
// id names, so a late or repeated delivery of one phase never counts for another, and it reports
// the duplicates of each phase.
//
// Figures. Per phase: events accepted per second (Dispatch), deliveries per second (first send,
// or first job added, to the last arrival), latencies from the send and from the 202 to the
// arrival, and, on Linux, the CPU time one delivery costs in each process of the side and how
// many cores the side kept busy. Each figure is printed as its median and its spread (min–max)
// over the rounds. Each round's ratio is Dispatch's deliveries per second over the bare side's in
// that round, and its batch ratio the batch phase's over the bare side's; the line before the last
// is "ratio (batch): <median> (min …, max … over N rounds)" with the batch phase's CPU per delivery
// next to the bare side's, and the last line is "ratio: <median of the rounds' ratios> (min …, max
// … over N rounds)".
//
// CPU (Linux, from /proc/<pid>/stat: user + system time of all threads; see scripts/bench/cpu.mjs).
// Dispatch's side: the API, the worker, its Redis, the PostgreSQL backends of the benchmark's
// database, the receiver and the load (this process). The bare side: its worker, its Redis, the
// receiver and the job adder (this process). A phase's CPU is counted from just before its first
// send until the processes are idle again after its last arrival, so work a side leaves for after
// its last delivery (attempt records written behind their jobs) counts too; cores busy is the
// side's CPU up to the last arrival over the time up to it. Each process is read every 100 ms and
// at the end; one that exits during a phase counts with the last value read, one that starts during
// it counts from 0. The PostgreSQL backends are the pids pg_stat_activity lists for the benchmark's
// database (read at the start, every 200 ms and at the end of a phase, from a connection to the
// "postgres" database, which is not counted); the server's shared background processes (WAL writer,
// checkpointer, background writer) work for every database and are not counted. The processes of
// the side not being measured stay up, idle; each phase prints the CPU they used meanwhile, and how
// many cores every other process on the machine (PostgreSQL's shared ones, the kernel, anything
// else running) kept busy, from /proc/stat: a phase slowed by a neighbour shows there.
//
// Everything the benchmark sends goes to loopback: DATABASE_URL must name a loopback host.
//
// Usage: node scripts/bench.mjs [--events N] [--in-flight N] [--batch-size N] [--batch-in-flight N] [--paced-events N] [--paced-rate N]
//        [--rounds N] [--no-build]
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { CpuSampler } from './bench/cpu.mjs';
import {
  buildAll,
  callApi,
  checkProcesses,
  loopbackDatabaseUrl,
  onCleanup,
  positiveInteger,
  prepareDatabase,
  root,
  runBenchmark,
  sleep,
  startOwnRedis,
  startDispatch,
  startProcess,
  step,
  withChildren,
  withDatabase,
} from './bench/harness.mjs';

// `--destinations N` runs the many-destinations scenario instead (see scripts/bench/many-destinations.mjs).
if (process.argv.slice(2).some((arg) => arg === '--destinations' || arg.startsWith('--destinations='))) {
  await import('./bench/many-destinations.mjs');
}
// `--noisy-neighbour` runs the noisy-neighbour scenario instead (see scripts/bench/noisy-neighbour.mjs).
if (process.argv.slice(2).includes('--noisy-neighbour')) {
  await import('./bench/noisy-neighbour.mjs');
}
// `--files` runs the files scenario instead (see scripts/bench/files.mjs).
if (process.argv.slice(2).includes('--files')) {
  await import('./bench/files.mjs');
}
// `--nats-ingest` runs the NATS ingest scenario instead (see scripts/bench/nats-ingest.mjs).
if (process.argv.slice(2).includes('--nats-ingest')) {
  await import('./bench/nats-ingest.mjs');
}
// `--websocket` runs the live WebSocket push scenario instead (see scripts/bench/websocket.mjs).
if (process.argv.slice(2).includes('--websocket')) {
  await import('./bench/websocket.mjs');
}

const here = path.join(root, 'scripts', 'bench');

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      events: { type: 'string', default: '3000' },
      'in-flight': { type: 'string', default: '32' },
      'batch-size': { type: 'string', default: '100' },
      'batch-in-flight': { type: 'string', default: '4' },
      'paced-events': { type: 'string', default: '300' },
      'paced-rate': { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
      'no-build': { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  usageError(error.message);
}
const EVENTS = positiveInteger(options.events, '--events', usageError);
const IN_FLIGHT = positiveInteger(options['in-flight'], '--in-flight', usageError);
const BATCH_SIZE = positiveInteger(options['batch-size'], '--batch-size', usageError);
const BATCH_IN_FLIGHT = positiveInteger(options['batch-in-flight'], '--batch-in-flight', usageError);
const PACED_EVENTS = positiveInteger(options['paced-events'], '--paced-events', usageError);
const PACED_RATE = positiveInteger(options['paced-rate'], '--paced-rate', usageError);
const ROUNDS = positiveInteger(options.rounds, '--rounds', usageError);
// Events (and bare jobs) sent once first, so every process runs warmed-up code when measured: as
// many as a phase, on each path (Dispatch one a request, Dispatch in batches, bare). Fewer left
// the bare worker's code cold in round 1, where it ran at about half its later rate.
const WARMUP = EVENTS;
const WAIT_TIMEOUT_MS = 120_000;
// The bare worker makes as many requests to the receiver at once as one Dispatch worker does to one destination.
const CONCURRENCY = positiveInteger(process.env.DISPATCH_WORKER_CONCURRENCY ?? '10', 'DISPATCH_WORKER_CONCURRENCY', usageError);
const PAD = 'x'.repeat(200);
// Idle: in the last 500 ms the processes of both sides used at most 25 ms of CPU and, before a
// phase, the rest of the machine at most 100 ms (0.2 cores); waiting stops after 15 s (20 s
// before a phase) whatever the load.
const SETTLE = { windowMs: 500, idleCpuMs: 25, otherCpuMs: 100, maxMs: 15_000, maxMachineMs: 20_000 };
const CORES = availableParallelism();
// The processes counted on each side (see the CPU sampler's parts in main), with their labels.
const DISPATCH_PARTS = [
  ['api', 'API'],
  ['worker', 'worker'],
  ['postgres', 'PostgreSQL'],
  ['dispatchRedis', 'Redis'],
  ['receiver', 'receiver'],
  ['orchestrator', 'load'],
];
const BARE_PARTS = [
  ['bareWorker', 'worker'],
  ['bareRedis', 'Redis'],
  ['receiver', 'receiver'],
  ['orchestrator', 'job adder'],
];

const runId = randomBytes(4).toString('hex');
const prefix = `bench${runId}`;
const databaseUrl = withDatabase(loopbackDatabaseUrl(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', usageError), `dispatch_bench_${runId}`);
const databaseName = `dispatch_bench_${runId}`;
const bootstrapKey = randomBytes(16).toString('hex'); // 32 characters

/** Epoch ms with sub-ms resolution: comparable across the benchmark's processes. */
const now = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
await runBenchmark(main, printSummary);

async function main() {
  console.log(
    `Dispatch throughput benchmark: ${ROUNDS} round${ROUNDS === 1 ? '' : 's'} of ${EVENTS} events, ${IN_FLIGHT} requests in flight, batches of ${BATCH_SIZE} (${BATCH_IN_FLIGHT} in flight), worker concurrency ${CONCURRENCY}`,
  );

  if (!options['no-build']) buildAll();

  step('Redis servers of the benchmark (one per side)');
  const dispatchRedis = await startOwnRedis('Dispatch');
  const bareRedis = await startOwnRedis('bare');
  console.log(`  Dispatch's at ${dispatchRedis.url} (pid ${dispatchRedis.child.pid}), the bare side's at ${bareRedis.url} (pid ${bareRedis.child.pid})`);

  step(`Database ${databaseName}, queue prefix ${prefix}`);
  const applied = await prepareDatabase(databaseUrl, databaseName);
  console.log(`  ${applied.length} migrations applied`);

  const receiver = await startReceiver();
  console.log(`  receiver at ${receiver.url} (pid ${receiver.pid})`);

  step('Starting the API, the worker and the bare worker');
  const started = performance.now();
  const { api, worker, base } = await startDispatch({
    databaseUrl,
    redisUrl: dispatchRedis.url,
    bootstrapKey,
    prefix,
    env: { DISPATCH_WORKER_CONCURRENCY: String(CONCURRENCY) },
  });
  console.log(`  API and worker ready in ${ms(performance.now() - started)} ms at ${base} (pids ${api.child.pid}, ${worker.child.pid})`);

  const agent = new Agent({ connections: Math.max(IN_FLIGHT, BATCH_IN_FLIGHT), keepAliveTimeout: 10_000 });
  onCleanup('close the HTTP client', () => agent.close());
  const created = await callApi(agent, base, bootstrapKey, 'POST', '/v1/destinations', {
    name: 'bench receiver',
    kind: 'webhook',
    config: { url: `${receiver.url}/hook` },
    eventTypes: ['bench.*'],
    // No limit: the benchmark measures how fast Dispatch delivers, not the default 100 a second.
    rateLimit: null,
  });
  if (created.status !== 201) throw new Error(`POST /v1/destinations answered ${created.status}: ${JSON.stringify(created.body)}`);
  const dispatchSecret = created.body.secret;
  console.log(`  destination ${created.body.id}`);

  const bare = await startBare(bareRedis, receiver);
  console.log(`  bare worker ready (pid ${bare.child.pid}), concurrency ${CONCURRENCY}`);

  // CPU: the processes of each part, and the backends of the benchmark's database.
  const monitorUrl = withDatabase(databaseUrl, 'postgres');
  const monitor = new pg.Client({ connectionString: monitorUrl });
  await monitor.connect();
  onCleanup('close the monitoring connection', () => monitor.end());
  let backends = [];
  const sampler = new CpuSampler({
    sampleMs: 100,
    refreshEvery: 2,
    refresh: async () => {
      const { rows } = await monitor.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [databaseName]);
      backends = rows.map((row) => row.pid);
    },
    parts: () => [
      { part: 'api', pid: api.child.pid },
      { part: 'worker', pid: worker.child.pid },
      { part: 'dispatchRedis', pid: dispatchRedis.child.pid },
      ...backends.map((pid) => ({ part: 'postgres', pid })),
      { part: 'receiver', pid: receiver.pid },
      { part: 'orchestrator', pid: process.pid },
      { part: 'bareWorker', pid: bare.child.pid },
      { part: 'bareRedis', pid: bareRedis.child.pid },
    ],
  });
  if (!sampler.enabled) console.log('  (no /proc: CPU figures are left out)');

  const context = { receiver, agent, base, dispatchSecret, bare, sampler };

  step(`Warm-up: ${WARMUP} events through Dispatch one a request, ${WARMUP} in batches, ${WARMUP} bare jobs`);
  await warmUpDispatch(context);
  await warmUpBare(context);

  const rounds = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const order = round % 2 === 1 ? ['dispatch', 'batch', 'bare'] : ['bare', 'batch', 'dispatch'];
    const figures = { round };
    for (const side of order) {
      await settle(sampler);
      if (side === 'dispatch') {
        step(`Round ${round}/${ROUNDS}, Dispatch: ${EVENTS} events end to end`);
        figures.e2e = await dispatchPhase(context, round);
      } else if (side === 'batch') {
        step(`Round ${round}/${ROUNDS}, Dispatch: ${EVENTS} events end to end in batches of ${BATCH_SIZE}`);
        figures.batch = await dispatchPhase(context, round, 'batch');
      } else {
        step(`Round ${round}/${ROUNDS}, bare BullMQ: ${EVENTS} jobs (concurrency ${CONCURRENCY})`);
        figures.bare = await barePhase(context, round);
      }
    }
    await settle(sampler);
    step(`Round ${round}/${ROUNDS}, Dispatch at a steady ${PACED_RATE} events/s: ${PACED_EVENTS} events`);
    figures.paced = await pacedPhase(context, round);
    figures.ratio = figures.e2e.deliveredPerSecond / figures.bare.deliveredPerSecond;
    figures.batchRatio = figures.batch.deliveredPerSecond / figures.bare.deliveredPerSecond;
    console.log(`  round ${round}: ratio ${figures.ratio.toFixed(2)}, ratio (batch) ${figures.batchRatio.toFixed(2)}`);
    rounds.push(figures);
  }

  await settle(sampler, false); // late deliveries of the last phase, if any, arrive before the tally
  const tally = await receiver.tally();
  return { rounds, tally };
}

// ---------------------------------------------------------------------------------------------
// Phases.

function phaseKey(name) {
  return `${runId}_${name}`;
}

function phaseIds(key, count) {
  return range(count).map((i) => `${key}_${i}`);
}

async function warmUpDispatch({ receiver, agent, base, dispatchSecret }) {
  const key = phaseKey('warm_dispatch');
  const ids = phaseIds(key, WARMUP);
  await receiver.phase(key, WARMUP);
  const done = receiver.complete(key, 60_000);
  await postEvents(agent, base, ids);
  await done;
  const report = await receiver.report(key);
  verifySamples('Dispatch warm-up', report, dispatchSecret);
  const batchKey = phaseKey('warm_batch');
  await receiver.phase(batchKey, WARMUP);
  const batchDone = receiver.complete(batchKey, 60_000);
  await postBatches(agent, base, phaseIds(batchKey, WARMUP), { accepted: 0 });
  await batchDone;
  const batchReport = await receiver.report(batchKey);
  verifySamples('Dispatch warm-up in batches', batchReport, dispatchSecret);
  console.log(`  Dispatch: ${report.received} received, ${batchReport.received} in batches`);
}

async function warmUpBare({ receiver, bare }) {
  const key = phaseKey('warm_bare');
  const ids = phaseIds(key, WARMUP);
  await receiver.phase(key, WARMUP);
  const done = receiver.complete(key, 60_000);
  await bare.add(ids);
  await done;
  const report = await receiver.report(key);
  verifySamples('bare warm-up', report, bare.secret);
  console.log(`  bare: ${report.received} received`);
}

/** Events through Dispatch end to end: one a request (`single`) or in batches (`batch`). */
async function dispatchPhase({ receiver, agent, base, dispatchSecret, sampler }, round, load = 'single') {
  const key = phaseKey(load === 'batch' ? `r${round}_batch` : `r${round}_dispatch`);
  const ids = phaseIds(key, EVENTS);
  await receiver.phase(key, EVENTS);
  const counts = { accepted: 0 };
  const done = receiver.complete(key, WAIT_TIMEOUT_MS, (received) => console.log(`  … ${counts.accepted} accepted, ${received} received`));
  const window = await sampler.begin({ others: true });
  const sent = load === 'batch' ? await postBatches(agent, base, ids, counts) : await postEvents(agent, base, ids, counts);
  console.log(`  all ${EVENTS} accepted in ${ms(sent.lastAck - sent.firstSend)} ms`);
  const lastAt = await done;
  const atLast = sampler.read(window);
  await untilIdle(sampler, window);
  const usage = await sampler.end(window);
  const report = await receiver.report(key);
  verifySamples(`round ${round} Dispatch${load === 'batch' ? ' (batches)' : ''}`, report, dispatchSecret);
  const figures = {
    ...endToEndFigures(sent, report.times, lastAt),
    cpu: cpuFigures(usage, atLast, DISPATCH_PARTS, EVENTS),
    idleOther: idleCpu(usage, BARE_PARTS),
    others: usage?.others,
    duplicates: report.duplicates,
  };
  console.log(`  accepted   ${rate(figures.acceptedPerSecond)} events/s`);
  console.log(`  delivered  ${rate(figures.deliveredPerSecond)} deliveries/s (${figures.receivedByLastAck} of ${EVENTS} had arrived by the last 202)`);
  console.log(`  accept-to-receive p50 ${ms(figures.acceptToReceive.p50)} ms, p99 ${ms(figures.acceptToReceive.p99)} ms`);
  console.log(`  send-to-receive   p50 ${ms(figures.sendToReceive.p50)} ms, p99 ${ms(figures.sendToReceive.p99)} ms`);
  printCpu(figures.cpu, DISPATCH_PARTS, figures.idleOther, "the bare side's", figures.others);
  if (report.duplicates > 0) console.log(`  (${report.duplicates} duplicate deliveries)`);
  return figures;
}

async function barePhase({ receiver, bare, sampler }, round) {
  const key = phaseKey(`r${round}_bare`);
  const ids = phaseIds(key, EVENTS);
  await receiver.phase(key, EVENTS);
  const done = receiver.complete(key, WAIT_TIMEOUT_MS, (received) => console.log(`  … ${received} received`), bare.check);
  const window = await sampler.begin({ others: true });
  const firstAdd = now();
  await bare.add(ids);
  const lastAdd = now();
  const lastAt = await done;
  const atLast = sampler.read(window);
  await untilIdle(sampler, window);
  const usage = await sampler.end(window);
  const report = await receiver.report(key);
  verifySamples(`round ${round} bare`, report, bare.secret);
  const figures = {
    addedPerSecond: (EVENTS * 1000) / (lastAdd - firstAdd),
    deliveredPerSecond: (EVENTS * 1000) / (lastAt - firstAdd),
    cpu: cpuFigures(usage, atLast, BARE_PARTS, EVENTS),
    idleOther: idleCpu(usage, DISPATCH_PARTS),
    others: usage?.others,
    duplicates: report.duplicates,
  };
  console.log(`  added      ${rate(figures.addedPerSecond)} jobs/s`);
  console.log(`  delivered  ${rate(figures.deliveredPerSecond)} deliveries/s`);
  printCpu(figures.cpu, BARE_PARTS, figures.idleOther, "Dispatch's", figures.others);
  if (report.duplicates > 0) console.log(`  (${report.duplicates} duplicate deliveries)`);
  return figures;
}

async function pacedPhase({ receiver, agent, base, dispatchSecret }, round) {
  const key = phaseKey(`r${round}_paced`);
  const ids = phaseIds(key, PACED_EVENTS);
  await receiver.phase(key, PACED_EVENTS);
  const done = receiver.complete(key, WAIT_TIMEOUT_MS);
  const sent = await postPaced(agent, base, ids, PACED_RATE);
  const lastAt = await done;
  const report = await receiver.report(key);
  verifySamples(`round ${round} paced`, report, dispatchSecret);
  const figures = endToEndFigures(sent, report.times, lastAt);
  console.log(`  accept-to-receive p50 ${ms(figures.acceptToReceive.p50)} ms, p99 ${ms(figures.acceptToReceive.p99)} ms`);
  console.log(`  send-to-receive   p50 ${ms(figures.sendToReceive.p50)} ms, p99 ${ms(figures.sendToReceive.p99)} ms`);
  return figures;
}

/**
 * Before a phase: waits until the processes of both sides are idle, so a phase does not pay for
 * the tail of the one before, and until the rest of the machine is quiet, so a phase does not
 * start under a neighbour's load.
 */
async function settle(sampler, machine = true) {
  if (!sampler.enabled) return;
  const window = await sampler.begin();
  await untilIdle(sampler, window, machine);
  await sampler.end(window);
}

/**
 * Waits, within an open CPU window, until the processes of both sides (all but this one) used at
 * most SETTLE.idleCpuMs of CPU in the last SETTLE.windowMs and, with `machine`, every process not
 * of the benchmark at most SETTLE.otherCpuMs; or until the longest wait has passed.
 */
async function untilIdle(sampler, window, machine = false) {
  if (!window) return;
  const read = () => {
    const usage = sampler.read(window);
    const all = Object.values(usage.parts).reduce((sum, value) => sum + value, 0);
    return { ours: all - (usage.parts.orchestrator ?? 0), others: usage.machineMs - all };
  };
  const started = performance.now();
  const longest = machine ? SETTLE.maxMachineMs : SETTLE.maxMs;
  let before = read();
  for (;;) {
    await sleep(SETTLE.windowMs);
    const after = read();
    const ours = after.ours - before.ours;
    const others = after.others - before.others;
    if (ours <= SETTLE.idleCpuMs && (!machine || others <= SETTLE.otherCpuMs)) return;
    if (performance.now() - started > longest) {
      const what = ours > SETTLE.idleCpuMs ? `the benchmark's processes used ${ms(ours)} ms` : `other processes used ${ms(others)} ms`;
      console.log(`  (still busy after ${longest / 1000} s: ${what} of CPU in the last ${SETTLE.windowMs} ms; going on)`);
      return;
    }
    before = after;
  }
}

function endToEndFigures(sent, times, lastAt) {
  const acceptToReceive = [];
  const sendToReceive = [];
  let receivedByLastAck = 0;
  for (let i = 0; i < times.length; i += 1) {
    // Negative when the webhook arrived before the orchestrator had read the 202.
    acceptToReceive.push(times[i] - sent.ackAt[i]);
    sendToReceive.push(times[i] - sent.sentAt[i]);
    if (times[i] <= sent.lastAck) receivedByLastAck += 1;
  }
  return {
    acceptedPerSecond: (times.length * 1000) / (sent.lastAck - sent.firstSend),
    deliveredPerSecond: (times.length * 1000) / (lastAt - sent.firstSend),
    receivedByLastAck,
    acceptToReceive: percentiles(acceptToReceive),
    sendToReceive: percentiles(sendToReceive),
  };
}

// ---------------------------------------------------------------------------------------------
// The receiver (a child process, scripts/bench/receiver.mjs).

async function startReceiver() {
  const child = fork(path.join(here, 'receiver.mjs'), [], { cwd: root, serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  startProcess('receiver', child);
  const replies = new Map(); // "<type>:<key>" → resolve
  const completions = new Map(); // key → lastAt, or a waiter
  const reply = (type, key) => new Promise((resolve) => replies.set(`${type}:${key}`, resolve));
  child.on('message', (message) => {
    if (message.type === 'complete') {
      const waiter = completions.get(message.key);
      if (typeof waiter === 'function') waiter(message.lastAt);
      else completions.set(message.key, message.lastAt);
      return;
    }
    const id = `${message.type}:${message.key ?? ''}`; // the answer to ask()
    const resolve = replies.get(id);
    replies.delete(id);
    resolve?.(message);
  });
  const [listening] = await withChildren(once(child, 'message'));
  const ask = async (message) => {
    const answer = reply(message.type, message.key ?? '');
    child.send(message);
    return withChildren(answer);
  };
  return {
    url: listening.url,
    pid: child.pid,
    /** Registers a phase: from the answer on, ids "<key>_<0…size-1>" are filed under it. */
    phase: (key, size) => ask({ type: 'phase', key, size }),
    report: (key) => ask({ type: 'report', key }),
    tally: () => ask({ type: 'tally' }),
    /** Resolves to the phase's last arrival once every id has arrived; checks the processes meanwhile. */
    complete(key, timeoutMs, progress, check = () => {}) {
      const waiting = waitForCompletion(key, timeoutMs, progress, check);
      waiting.catch(() => {}); // awaited later; until then a failure must not count as unhandled
      return waiting;
    },
  };

  async function waitForCompletion(key, timeoutMs, progress, check) {
    const known = completions.get(key);
    const arrival = known !== undefined ? Promise.resolve(known) : new Promise((resolve) => completions.set(key, resolve));
    let finished = false;
    const watch = (async () => {
      const started = performance.now();
      let nextProgress = started + 2_000;
      for (;;) {
        await sleep(50);
        if (finished) return;
        checkProcesses();
        check();
        if (performance.now() - started > timeoutMs) {
          const { received } = await ask({ type: 'count', key });
          throw new Error(`${key}: the receiver got ${received} of the phase's webhooks within ${timeoutMs / 1000} s`);
        }
        if (progress && performance.now() >= nextProgress) {
          nextProgress += 2_000;
          progress((await ask({ type: 'count', key })).received);
        }
      }
    })();
    try {
      return await Promise.race([arrival, watch]);
    } finally {
      finished = true;
      completions.delete(key);
    }
  }
}

function verifySamples(name, report, secret) {
  const webhook = new Webhook(secret);
  for (const sample of report.samples) {
    try {
      webhook.verify(sample.body, sample.headers);
    } catch (error) {
      throw new Error(`${name}: the signature of webhook ${sample.headers['webhook-id']} does not verify (${error.message})`, { cause: error });
    }
  }
  console.log(`  ${report.samples.length} sampled signatures verify`);
}

// ---------------------------------------------------------------------------------------------
// The bare baseline: its worker is a child process (scripts/bench/bare-worker.mjs); this process
// adds its jobs.

async function startBare(redis, receiver) {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const queueName = `baseline-${runId}`;
  const config = { redisUrl: redis.url, queueName, prefix, receiverUrl: receiver.url, secret, concurrency: CONCURRENCY };
  const child = fork(path.join(here, 'bare-worker.mjs'), [], {
    cwd: root,
    env: { ...process.env, BENCH_BARE: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const entry = startProcess('bare worker', child, () => {
    if (child.connected) child.send({ type: 'stop' });
    else child.kill('SIGTERM');
  });
  let workerError = null;
  const ready = new Promise((resolve) => {
    child.on('message', (message) => {
      if (message.type === 'ready') resolve();
      else if (message.type === 'error') workerError ??= new Error(message.message);
    });
  });
  await withChildren(ready);

  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(queueName, { connection, prefix });
  onCleanup('close the bare queue', async () => {
    await queue.close();
    connection.disconnect();
  });
  return {
    child: entry.child,
    secret,
    check() {
      if (workerError) throw workerError;
    },
    /** Adds one job per id, 500 at a time. */
    async add(ids) {
      for (let start = 0; start < ids.length; start += 500) {
        const chunk = ids.slice(start, start + 500).map((id, offset) => ({
          name: 'deliver',
          data: { id, type: 'bench.created', timestamp: new Date().toISOString(), data: { i: start + offset, pad: PAD } },
          opts: { removeOnComplete: true, removeOnFail: false },
        }));
        await queue.addBulk(chunk);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Processes: Dispatch's API and worker, the receiver, the bare worker, the Redis servers.

// ---------------------------------------------------------------------------------------------
// Dispatch's API: the load.

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

/** Sends one event per id, IN_FLIGHT requests at a time, as fast as they are answered; records when each was sent and answered. */
async function postEvents(agent, base, ids, counts = { accepted: 0 }) {
  const sentAt = new Float64Array(ids.length);
  const ackAt = new Float64Array(ids.length);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < ids.length && !failed) {
      const i = next++;
      sentAt[i] = now();
      try {
        await postEvent(agent, base, ids[i], i);
        ackAt[i] = now();
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

/**
 * Sends the events in batches of BATCH_SIZE, BATCH_IN_FLIGHT requests at a time, as fast as they
 * are answered; each event is recorded as sent and answered when its batch was.
 */
async function postBatches(agent, base, ids, counts = { accepted: 0 }) {
  const sentAt = new Float64Array(ids.length);
  const ackAt = new Float64Array(ids.length);
  const starts = range(Math.ceil(ids.length / BATCH_SIZE)).map((batch) => batch * BATCH_SIZE);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (next < starts.length && !failed) {
      const start = starts[next++];
      const end = Math.min(ids.length, start + BATCH_SIZE);
      sentAt.fill(now(), start, end);
      const response = await request(`${base}/v1/events/batch`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${bootstrapKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: range(end - start).map((offset) => ({ id: ids[start + offset], type: 'bench.created', data: { i: start + offset, pad: PAD } })) }),
      });
      const text = await response.body.text();
      if (response.statusCode !== 202) {
        failed = true;
        throw new Error(`POST /v1/events/batch answered ${response.statusCode}: ${text.slice(0, 300)}`);
      }
      ackAt.fill(now(), start, end);
      counts.accepted += end - start;
    }
  };
  await Promise.all(range(Math.min(BATCH_IN_FLIGHT, starts.length)).map(lane));
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
      sentAt[i] = now();
      await postEvent(agent, base, id, i);
      ackAt[i] = now();
    }),
  );
  return { sentAt, ackAt, firstSend: Math.min(...sentAt), lastAck: Math.max(...ackAt) };
}

// ---------------------------------------------------------------------------------------------
// CPU figures: what one delivery costs in each process of a side.

/**
 * CPU ms per delivery of each part of a side and in all, counted until the processes were idle
 * again after the last arrival (`usage`: work a side leaves for after its last delivery counts
 * too), and how many cores the side kept busy from the first send to the last arrival (`atLast`).
 */
function cpuFigures(usage, atLast, parts, deliveries) {
  if (!usage) return null;
  const sum = (of) => parts.reduce((total, [part]) => total + (of.parts[part] ?? 0), 0);
  const perDelivery = Object.fromEntries(parts.map(([part]) => [part, (usage.parts[part] ?? 0) / deliveries]));
  const everyPart = Object.values(atLast.parts).reduce((total, value) => total + value, 0);
  return {
    parts: perDelivery,
    total: sum(usage) / deliveries,
    coresBusy: sum(atLast) / atLast.wallMs,
    // What every process not counted here kept busy meanwhile (PostgreSQL's shared background processes, the kernel, anything
    // else running on the machine): a noisy neighbour shows here.
    otherCores: Math.max(0, atLast.machineMs - everyPart) / atLast.wallMs,
  };
}

/** CPU ms the other side's processes used during a phase (they are up, with nothing to do). */
function idleCpu(usage, parts) {
  if (!usage) return null;
  return parts.filter(([part]) => part !== 'receiver' && part !== 'orchestrator').reduce((sum, [part]) => sum + (usage.parts[part] ?? 0), 0);
}

function printCpu(cpu, parts, idleOther, otherName, others = []) {
  if (!cpu) return;
  const shown = parts.map(([part, label]) => `${label} ${cpu.parts[part].toFixed(3)}`);
  console.log(`  CPU per delivery (ms): ${shown.join(', ')}; ${cpu.total.toFixed(3)} in all`);
  console.log(`  cores busy on average: ${cpu.coresBusy.toFixed(2)} of ${CORES}; other processes: ${cpu.otherCores.toFixed(2)}`);
  console.log(`  meanwhile ${otherName} idle processes used ${ms(idleOther)} ms of CPU`);
  if (others.length > 0) console.log(`  busiest other processes (CPU ms): ${others.map(({ name, cpuMs }) => `${name} ${cpuMs.toFixed(0)}`).join('; ')}`);
}

// ---------------------------------------------------------------------------------------------
// Database clean-up.

// ---------------------------------------------------------------------------------------------
// Output.

function printSummary({ rounds, tally }) {
  const series = (pick) => rounds.map(pick);
  const one = (pick, format = rate) => spread(series(pick), format);
  const pair = (pickA, pickB, format = ms) => {
    const a = summary(series(pickA));
    const b = summary(series(pickB));
    return `${format(a.median)} / ${format(b.median)} (${format(a.min)}–${format(a.max)} / ${format(b.min)}–${format(b.max)})`;
  };
  const withCpu = rounds.every((r) => r.e2e.cpu && r.batch.cpu && r.bare.cpu);
  const batches = `in batches of ${BATCH_SIZE}`;
  const rows = [
    ['Dispatch: events accepted per second', one((r) => r.e2e.acceptedPerSecond)],
    ['Dispatch: deliveries per second, end to end', one((r) => r.e2e.deliveredPerSecond)],
    [
      'Dispatch: accept-to-receive p50 / p99 (ms)',
      pair(
        (r) => r.e2e.acceptToReceive.p50,
        (r) => r.e2e.acceptToReceive.p99,
      ),
    ],
    [
      'Dispatch: send-to-receive p50 / p99 (ms)',
      pair(
        (r) => r.e2e.sendToReceive.p50,
        (r) => r.e2e.sendToReceive.p99,
      ),
    ],
    [
      `Dispatch at ${PACED_RATE}/s: send-to-receive p50 / p99 (ms)`,
      pair(
        (r) => r.paced.sendToReceive.p50,
        (r) => r.paced.sendToReceive.p99,
      ),
    ],
    [`Dispatch ${batches}: events accepted per second`, one((r) => r.batch.acceptedPerSecond)],
    [`Dispatch ${batches}: deliveries per second, end to end`, one((r) => r.batch.deliveredPerSecond)],
    [
      `Dispatch ${batches}: send-to-receive p50 / p99 (ms)`,
      pair(
        (r) => r.batch.sendToReceive.p50,
        (r) => r.batch.sendToReceive.p99,
      ),
    ],
    ['Bare BullMQ: deliveries per second', one((r) => r.bare.deliveredPerSecond)],
    ...(withCpu
      ? [
          ['Dispatch: CPU per delivery, all processes (ms)', one((r) => r.e2e.cpu.total, cpuMs)],
          [`Dispatch ${batches}: CPU per delivery, all processes (ms)`, one((r) => r.batch.cpu.total, cpuMs)],
          ['Bare BullMQ: CPU per delivery, all processes (ms)', one((r) => r.bare.cpu.total, cpuMs)],
          [`Dispatch: cores busy (of ${CORES})`, one((r) => r.e2e.cpu.coresBusy, cores)],
          [`Dispatch ${batches}: cores busy (of ${CORES})`, one((r) => r.batch.cpu.coresBusy, cores)],
          [`Bare BullMQ: cores busy (of ${CORES})`, one((r) => r.bare.cpu.coresBusy, cores)],
          [
            'Cores busy in other processes, Dispatch / bare phases',
            pair(
              (r) => r.e2e.cpu.otherCores,
              (r) => r.bare.cpu.otherCores,
              cores,
            ),
          ],
          [`Cores busy in other processes, Dispatch ${batches}`, one((r) => r.batch.cpu.otherCores, cores)],
        ]
      : []),
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const roundsText = `${ROUNDS} round${ROUNDS === 1 ? '' : 's'}`;
  console.log(`\nResults: median (min–max) over ${roundsText} (${EVENTS} events, ${IN_FLIGHT} in flight, concurrency ${CONCURRENCY})`);
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
  if (withCpu) {
    console.log('CPU per delivery by process (ms), median (min–max):');
    for (const [name, side, parts] of [
      ['Dispatch', 'e2e', DISPATCH_PARTS],
      [`Dispatch ${batches}`, 'batch', DISPATCH_PARTS],
      ['Bare BullMQ', 'bare', BARE_PARTS],
    ]) {
      const shown = parts.map(
        ([part, label]) =>
          `${label} ${spread(
            series((r) => r[side].cpu.parts[part]),
            cpuMs,
          )}`,
      );
      console.log(`  ${name}: ${shown.join(', ')}`);
    }
  }
  const ratios = series((r) => r.ratio);
  console.log(
    `Ratio by round (in order): ${rounds.map((r) => `${r.round}: ${r.ratio.toFixed(2)}, batch ${r.batchRatio.toFixed(2)}${r.round % 2 === 1 ? ' (Dispatch first)' : ' (bare first)'}`).join('; ')}`,
  );
  const repeated = tally.phases.filter((p) => p.duplicates > 0 || p.unexpected > 0);
  console.log(
    `Duplicates: ${
      repeated.length === 0
        ? 'none in any phase'
        : repeated.map((p) => `${p.key.slice(runId.length + 1)} ${p.duplicates}${p.unexpected ? ` (+${p.unexpected} unknown ids)` : ''}`).join(', ')
    }${tally.strays ? `; ${tally.strays} webhooks matched no phase` : ''}`,
  );
  const ratio = summary(ratios);
  const batchRatio = summary(series((r) => r.batchRatio));
  console.log(`Dispatch delivers at ${(ratio.median * 100).toFixed(0)}% of the bare BullMQ rate, ${(batchRatio.median * 100).toFixed(0)}% ${batches}.`);
  const batchCpu = withCpu ? summary(series((r) => r.batch.cpu.total)) : null;
  const bareCpu = withCpu ? summary(series((r) => r.bare.cpu.total)) : null;
  console.log(
    `ratio (batch): ${batchRatio.median.toFixed(2)} (min ${batchRatio.min.toFixed(2)}, max ${batchRatio.max.toFixed(2)} over ${roundsText})${
      withCpu ? `; CPU per delivery ${cpuMs(batchCpu.median)} ms, bare ${cpuMs(bareCpu.median)} ms (${(batchCpu.median / bareCpu.median).toFixed(2)}× bare)` : ''
    }`,
  );
  console.log(`ratio: ${ratio.median.toFixed(2)} (min ${ratio.min.toFixed(2)}, max ${ratio.max.toFixed(2)} over ${roundsText})`);
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

function spread(values, format) {
  const { median, min, max } = summary(values);
  return `${format(median)} (${format(min)}–${format(max)})`;
}

function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { p50: at(50), p99: at(99) };
}

function rate(value) {
  return value.toFixed(1);
}

function ms(value) {
  return value.toFixed(1);
}

function cpuMs(value) {
  return value.toFixed(3);
}

function cores(value) {
  return value.toFixed(2);
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

function range(n) {
  return Array.from({ length: n }, (_, i) => i);
}

function usageError(message) {
  console.error(
    `${message}\nusage: npm run bench -- [--events N] [--in-flight N] [--batch-size N] [--batch-in-flight N] [--paced-events N] [--paced-rate N] [--rounds N] [--no-build]`,
  );
  process.exit(2);
}
