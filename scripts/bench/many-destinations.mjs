// npm run bench -- --destinations N: many destinations with a little work each.
//
// The scenario: Dispatch's API and worker, built, as real processes on a database, a queue
// prefix and a Redis server of their own (the machine's redis-server binary on a free loopback
// port, saving nothing). Through the API it creates N webhook destinations, each with a URL of
// its own on one receiver on loopback (scripts/bench/receiver.mjs), at a steady number of
// requests in flight, printing the creation rate of every 1000; then it sends 3 events to each
// destination (event 1 to every destination, then event 2, then event 3; --in-flight requests
// at a time), each event naming its one destination.
//
// It prints:
// - whether every delivery was made (each event arrived once; duplicates and strays counted);
// - the Redis connections of the whole system (INFO clients, connected_clients, every 100 ms):
//   the count once the API and worker are idle, before any destination exists, and the peak;
// - the peak resident memory (RSS, /proc/<pid>/status) of the API, of the worker, and of both
//   together, sampled every 100 ms;
// - per destination, the wait from the send of its first event to its first delivery: p50, p99
//   and the longest;
// - deliveries per second, from the first send to the last arrival.
// And the targets: every delivery made; at most 300 Redis connections above idle; at most 1 GB
// of RSS for the API and the worker together.
//
// Everything it sends goes to loopback: DATABASE_URL must name a loopback host.
//
// Usage: node scripts/bench.mjs --destinations N [--in-flight N] [--no-build]
//   (environment: DISPATCH_WORKER_MAX_QUEUES, DISPATCH_WORKER_SLICE_MS, DISPATCH_WORKER_CONCURRENCY
//   are passed on to the worker when set)
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import {
  buildAll,
  callApi,
  checkProcesses,
  loopbackDatabaseUrl,
  onCleanup,
  positiveInteger,
  prepareDatabase,
  residentBytes,
  root,
  runBenchmark,
  sleep,
  startOwnRedis,
  startDispatch,
  startProcess,
  step,
  withDatabase,
} from './harness.mjs';

const EVENTS_PER_DESTINATION = 3;
const TARGET_CONNECTIONS_ABOVE_IDLE = 300;
const TARGET_RSS_BYTES = 1024 ** 3;
/** The longest the scenario waits with no new arrival before it gives up. */
const STALL_MS = 120_000;

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      destinations: { type: 'string' },
      'in-flight': { type: 'string', default: '16' },
      'no-build': { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  usageError(error.message);
}
const DESTINATIONS = positiveInteger(options.destinations, '--destinations', usageError);
const IN_FLIGHT = positiveInteger(options['in-flight'], '--in-flight', usageError);
const TOTAL = DESTINATIONS * EVENTS_PER_DESTINATION;

const runId = randomBytes(4).toString('hex');
const prefix = `benchmd${runId}`;
const databaseName = `dispatch_bench_md_${runId}`;
const databaseUrl = withDatabase(loopbackDatabaseUrl(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', usageError), databaseName);
const bootstrapKey = randomBytes(16).toString('hex');
/** The receiver files an arrival under the phase its webhook-id names: event ids are "<key>_<index>", index = destination × 3 + event. */
const PHASE = `md${runId}`;

const now = () => performance.timeOrigin + performance.now();

await runBenchmark(main, printReport);

async function main() {
  console.log(`Dispatch many-destinations scenario: ${DESTINATIONS} webhook destinations, ${EVENTS_PER_DESTINATION} events each, ${IN_FLIGHT} requests in flight`);
  if (!options['no-build']) buildAll();

  step('Redis server of the scenario');
  const redisServer = await startOwnRedis('scenario');
  console.log(`  at ${redisServer.url} (pid ${redisServer.child.pid})`);

  step(`Database ${databaseName}, queue prefix ${prefix}`);
  await prepareDatabase(databaseUrl, databaseName);

  const receiver = await startReceiver();
  console.log(`  receiver at ${receiver.url} (pid ${receiver.pid})`);

  step('Starting the API and the worker');
  const { api, worker, base } = await startDispatch({ databaseUrl, redisUrl: redisServer.url, bootstrapKey, prefix });
  console.log(`  ready at ${base} (pids ${api.child.pid}, ${worker.child.pid})`);

  // Redis connections and memory, sampled from now on.
  const monitor = new Redis(redisServer.url, { connectionName: 'bench-monitor', maxRetriesPerRequest: 1 });
  monitor.on('error', () => {});
  onCleanup('close the Redis monitor', () => monitor.quit());
  const samples = { connections: 0, rss: { api: 0, worker: 0, both: 0 } };
  const sampleOnce = async () => {
    const info = await monitor.info('clients').catch(() => '');
    const clients = Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? 0);
    samples.connections = Math.max(samples.connections, clients);
    const apiRss = residentBytes(api.child.pid);
    const workerRss = residentBytes(worker.child.pid);
    samples.rss.api = Math.max(samples.rss.api, apiRss);
    samples.rss.worker = Math.max(samples.rss.worker, workerRss);
    samples.rss.both = Math.max(samples.rss.both, apiRss + workerRss);
    return clients;
  };
  await sleep(2_000);
  const idleConnections = await sampleOnce();
  samples.connections = idleConnections;
  console.log(`  Redis connections when idle: ${idleConnections}`);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sampleOnce();
      await sleep(100);
    }
  })();
  onCleanup('stop sampling', async () => {
    sampling = false;
    await sampler;
  });

  const agent = new Agent({ connections: IN_FLIGHT, keepAliveTimeout: 10_000 });
  onCleanup('close the HTTP client', () => agent.close());

  step(`Creating ${DESTINATIONS} webhook destinations`);
  const destinationIds = new Array(DESTINATIONS);
  const createStarted = performance.now();
  let blockStarted = createStarted;
  let created = 0;
  await inParallel(DESTINATIONS, IN_FLIGHT, async (i) => {
    const answer = await callApi(agent, base, bootstrapKey, 'POST', '/v1/destinations', {
      name: `many ${i}`,
      kind: 'webhook',
      config: { url: `${receiver.url}/d/${i}` },
      eventTypes: ['md.*'],
      rateLimit: null,
    });
    if (answer.status !== 201) throw new Error(`POST /v1/destinations answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    destinationIds[i] = answer.body.id;
    created += 1;
    if (created % 1000 === 0 || created === DESTINATIONS) {
      const at = performance.now();
      const inBlock = created % 1000 === 0 ? 1000 : created % 1000;
      console.log(
        `  ${String(created).padStart(6)} created: ${rate((inBlock * 1000) / (at - blockStarted))}/s for these ${inBlock}, ${rate((created * 1000) / (at - createStarted))}/s overall`,
      );
      blockStarted = at;
    }
  });
  const creationSeconds = (performance.now() - createStarted) / 1000;

  step(`Sending ${EVENTS_PER_DESTINATION} events to each destination (${TOTAL} events)`);
  await receiver.phase(PHASE, TOTAL);
  const sentAt = new Float64Array(TOTAL).fill(Number.NaN);
  const firstSend = now();
  let sent = 0;
  for (let round = 0; round < EVENTS_PER_DESTINATION; round += 1) {
    await inParallel(DESTINATIONS, IN_FLIGHT, async (d) => {
      const index = d * EVENTS_PER_DESTINATION + round;
      sentAt[index] = now();
      await postEvent(agent, base, { id: `${PHASE}_${index}`, type: 'md.created', destinations: [destinationIds[d]], data: { d, round } });
      sent += 1;
      if (sent % 5000 === 0) console.log(`  ${sent} sent`);
    });
  }
  const lastSend = now();
  console.log(`  all ${TOTAL} sent in ${((lastSend - firstSend) / 1000).toFixed(1)} s (${rate((TOTAL * 1000) / (lastSend - firstSend))} events/s)`);

  step('Waiting for every delivery');
  let received = 0;
  let lastProgress = performance.now();
  let nextLog = lastProgress + 10_000;
  for (;;) {
    checkProcesses();
    const count = (await receiver.ask({ type: 'count', key: PHASE })).received;
    if (count !== received) {
      received = count;
      lastProgress = performance.now();
    }
    if (received >= TOTAL) break;
    if (performance.now() - lastProgress > STALL_MS) break;
    await sleep(1_000);
    if (performance.now() >= nextLog) {
      nextLog += 10_000;
      console.log(`  ${received} of ${TOTAL} delivered`);
    }
  }
  await sleep(1_000); // late duplicates, if any
  sampling = false;
  await sampler;
  const cpu = { api: cpuSeconds(api.child.pid), worker: cpuSeconds(worker.child.pid) };
  const { times, duplicates } = await receiver.ask({ type: 'report', key: PHASE });
  const tally = await receiver.ask({ type: 'tally' });

  const waits = [];
  let lastArrival = 0;
  for (let d = 0; d < DESTINATIONS; d += 1) {
    let first = Number.POSITIVE_INFINITY;
    for (let k = 0; k < EVENTS_PER_DESTINATION; k += 1) {
      const at = times[d * EVENTS_PER_DESTINATION + k];
      if (!Number.isNaN(at)) {
        first = Math.min(first, at);
        lastArrival = Math.max(lastArrival, at);
      }
    }
    if (Number.isFinite(first)) waits.push(first - sentAt[d * EVENTS_PER_DESTINATION]);
  }
  waits.sort((a, b) => a - b);
  const delivered = times.filter((at) => !Number.isNaN(at)).length;
  return {
    creationSeconds,
    delivered,
    duplicates,
    strays: tally.strays,
    idleConnections,
    peakConnections: samples.connections,
    rss: samples.rss,
    waits,
    deliveredPerSecond: (delivered * 1000) / (lastArrival - firstSend),
    cpu,
  };
}

function printReport(r) {
  const percentile = (p) => r.waits[Math.min(r.waits.length - 1, Math.floor((p / 100) * r.waits.length))] ?? Number.NaN;
  const above = r.peakConnections - r.idleConnections;
  const allDelivered = r.delivered === TOTAL;
  const mb = (bytes) => `${Math.round(bytes / 1024 ** 2)} MB`;
  console.log('\n== Many destinations ==');
  console.log(`destinations: ${DESTINATIONS}, created in ${r.creationSeconds.toFixed(1)} s (${rate(DESTINATIONS / r.creationSeconds)}/s)`);
  console.log(`delivered: ${allDelivered ? 'all' : 'NOT all'}, ${r.delivered} of ${TOTAL} (duplicates ${r.duplicates}, strays ${r.strays})`);
  console.log(`Redis connections: ${r.idleConnections} idle, peak ${r.peakConnections} (${above} above idle)`);
  console.log(`peak memory (RSS): API ${mb(r.rss.api)}, worker ${mb(r.rss.worker)}, both together ${mb(r.rss.both)}`);
  console.log(
    `wait from send to first delivery, per destination: p50 ${Math.round(percentile(50))} ms, p99 ${Math.round(percentile(99))} ms, longest ${Math.round(r.waits.at(-1) ?? Number.NaN)} ms`,
  );
  console.log(`deliveries per second: ${rate(r.deliveredPerSecond)}`);
  console.log(`CPU used from start to the end: API ${r.cpu.api.toFixed(1)} s, worker ${r.cpu.worker.toFixed(1)} s`);
  const targets = [
    ['every delivery made', allDelivered],
    [`at most ${TARGET_CONNECTIONS_ABOVE_IDLE} Redis connections above idle`, above <= TARGET_CONNECTIONS_ABOVE_IDLE],
    ['at most 1 GB RSS for the API and the worker together', r.rss.both <= TARGET_RSS_BYTES],
  ];
  for (const [target, met] of targets) console.log(`target: ${target}: ${met ? 'met' : 'MISSED'}`);
}

// ---------------------------------------------------------------------------------------------

/** Runs task(0…count-1) with at most `width` at once; the first failure stops the rest. */
async function inParallel(count, width, task) {
  let next = 0;
  let failed;
  const lane = async () => {
    while (next < count && !failed) {
      const i = next;
      next += 1;
      try {
        await task(i);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane));
  if (failed) throw failed;
  checkProcesses();
}

/** User + system CPU seconds a process used so far (Linux: /proc/<pid>/stat, 100 ticks a second). */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function startReceiver() {
  const child = fork(path.join(root, 'scripts', 'bench', 'receiver.mjs'), [], { cwd: root, serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  startProcess('receiver', child);
  const replies = new Map();
  child.on('message', (message) => {
    if (message.type === 'complete') return;
    const id = `${message.type}:${message.key ?? ''}`;
    const resolve = replies.get(id);
    replies.delete(id);
    resolve?.(message);
  });
  const [listening] = await once(child, 'message');
  const ask = (message) => {
    const answer = new Promise((resolve) => replies.set(`${message.type}:${message.key ?? ''}`, resolve));
    child.send(message);
    return answer;
  };
  return { url: listening.url, pid: child.pid, ask, phase: (key, size) => ask({ type: 'phase', key, size }) };
}

async function postEvent(agent, base, event) {
  const answer = await callApi(agent, base, bootstrapKey, 'POST', '/v1/events', event);
  if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
}

function rate(value) {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
}

function usageError(message) {
  console.error(`${message}\nUsage: node scripts/bench.mjs --destinations N [--in-flight N] [--no-build]`);
  process.exit(2);
}
