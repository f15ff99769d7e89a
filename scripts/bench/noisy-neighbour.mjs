// npm run bench -- --noisy-neighbour: one destination answers 429 (or does not answer) under
// load; do the others' first attempts still arrive within 2 s?
//
// The scenario: Dispatch's API and worker, built, as real processes on a database, a queue
// prefix and a Redis server of their own (the machine's redis-server binary on a free loopback
// port, saving nothing). Through the API it creates --healthy webhook destinations (20 by
// default) and one noisy destination, each with a URL of its own on one receiver on loopback
// (scripts/bench/noisy-receiver.mjs). The healthy ones answer 200 at once. The noisy one, with
// --noisy 429 (the default), answers 429 with Retry-After: 1; with --noisy timeout it never
// answers, and the worker gives up after --timeout-ms (DISPATCH_WEBHOOK_TIMEOUT_MS, 1000 ms by
// default in this mode). The noisy destination retries every second (up to 20 attempts) and its
// circuit breaker is off, so it stays noisy for the whole run; no destination has a rate limit.
// After a warm-up (one event to each destination, waiting for the healthy ones to arrive: the
// API, the worker and their connections are warm), it sends --events events (POST /v1/events, one event a request, at most --in-flight at
// once) at --rate events a second: every other event to the noisy destination, the rest to the
// healthy ones in turn, each event naming its one destination.
//
// It prints:
// - the healthy destinations' first-attempt latency, from the send to the arrival at the
//   receiver: p50, p99 and the longest, and whether every healthy delivery was made;
// - the noisy destination's attempts (and how many were answered 429 or abandoned at the
//   timeout), in all and per second;
// - the healthy deliveries per second, from the first send to the last healthy arrival, and the
//   rate the events were sent at;
// - the target: p99 of the healthy first attempts at most 2 s: met or MISSED.
//
// Everything it sends goes to loopback: DATABASE_URL must name a loopback host. Every process,
// the Redis server and the database it creates are removed at the end, on failure and on Ctrl+C.
//
// Usage: node scripts/bench.mjs --noisy-neighbour [--healthy N] [--events N] [--rate N] [--noisy 429|timeout]
//        [--timeout-ms N] [--in-flight N] [--no-build]
//   (environment: DISPATCH_WORKER_MAX_QUEUES, DISPATCH_WORKER_SLICE_MS, DISPATCH_WORKER_CONCURRENCY
//   are passed on to the worker when set)
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
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
  withDatabase,
} from './harness.mjs';

const TARGET_P99_MS = 2_000;
/** The longest the scenario waits with no new healthy arrival before it gives up. */
const STALL_MS = 60_000;
const USAGE = 'Usage: node scripts/bench.mjs --noisy-neighbour [--healthy N] [--events N] [--rate N] [--noisy 429|timeout] [--timeout-ms N] [--in-flight N] [--no-build]';

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      'noisy-neighbour': { type: 'boolean' },
      healthy: { type: 'string', default: '20' },
      events: { type: 'string', default: '4000' },
      rate: { type: 'string', default: '200' },
      noisy: { type: 'string', default: '429' },
      'timeout-ms': { type: 'string', default: '1000' },
      'in-flight': { type: 'string', default: '16' },
      'no-build': { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  usageError(error.message);
}
const HEALTHY = positiveInteger(options.healthy, '--healthy', usageError);
const EVENTS = positiveInteger(options.events, '--events', usageError);
const RATE = positiveInteger(options.rate, '--rate', usageError);
const IN_FLIGHT = positiveInteger(options['in-flight'], '--in-flight', usageError);
const TIMEOUT_MS = positiveInteger(options['timeout-ms'], '--timeout-ms', usageError);
const MODE = options.noisy;
if (MODE !== '429' && MODE !== 'timeout') usageError(`--noisy must be 429 or timeout, not "${MODE}"`);
/** Every other event goes to the noisy destination. */
const isNoisy = (index) => index % 2 === 0;
const HEALTHY_EVENTS = Math.floor(EVENTS / 2);

const runId = randomBytes(4).toString('hex');
const prefix = `benchnn${runId}`;
const databaseName = `dispatch_bench_nn_${runId}`;
const databaseUrl = withDatabase(loopbackDatabaseUrl(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', usageError), databaseName);
const bootstrapKey = randomBytes(16).toString('hex');
/** Healthy events are "<KEY>_<n>" (n counts the healthy events), noisy ones "<KEY>noisy_<i>". */
const KEY = `nn${runId}`;

const now = () => performance.timeOrigin + performance.now();

await runBenchmark(main, printReport);

async function main() {
  const noisyWhat = MODE === '429' ? 'answers 429 with Retry-After: 1' : `never answers (timeout ${TIMEOUT_MS} ms)`;
  console.log(`Dispatch noisy-neighbour scenario: ${HEALTHY} healthy destinations and 1 that ${noisyWhat}; ${EVENTS} events at ${RATE}/s, half to the noisy one`);
  if (!options['no-build']) buildAll();

  step('Redis server of the scenario');
  const redisServer = await startOwnRedis('scenario');
  console.log(`  at ${redisServer.url} (pid ${redisServer.child.pid})`);

  step(`Database ${databaseName}, queue prefix ${prefix}`);
  await prepareDatabase(databaseUrl, databaseName);

  const receiver = await startReceiver();
  console.log(`  receiver at ${receiver.url} (pid ${receiver.pid})`);

  step('Starting the API and the worker');
  const { api, worker, base } = await startDispatch({
    databaseUrl,
    redisUrl: redisServer.url,
    bootstrapKey,
    prefix,
    env: MODE === 'timeout' ? { DISPATCH_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) } : {},
  });
  console.log(`  ready at ${base} (pids ${api.child.pid}, ${worker.child.pid})`);

  const agent = new Agent({ connections: IN_FLIGHT, keepAliveTimeout: 10_000 });
  onCleanup('close the HTTP client', () => agent.close());

  step(`Creating ${HEALTHY} healthy destinations and the noisy one`);
  const create = async (name, url, extra = {}) => {
    const answer = await callApi(agent, base, bootstrapKey, 'POST', '/v1/destinations', {
      name,
      kind: 'webhook',
      config: { url },
      eventTypes: ['nn.*'],
      rateLimit: null,
      ...extra,
    });
    if (answer.status !== 201) throw new Error(`POST /v1/destinations answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    return answer.body.id;
  };
  const healthyIds = [];
  for (let i = 0; i < HEALTHY; i += 1) healthyIds.push(await create(`healthy ${i}`, `${receiver.url}/healthy/${i}`));
  const noisyId = await create('noisy', `${receiver.url}/noisy`, {
    circuitBreaker: { enabled: false },
    retryPolicy: { maxAttempts: 20, schedule: [1_000], jitter: 0.2 },
  });

  step('Warming up: one event to each destination');
  await Promise.all([...healthyIds, noisyId].map((id, i) => postEvent(agent, base, { id: `${KEY}warm_${i}`, type: 'nn.warm', destinations: [id], data: {} })));
  const warmUntil = performance.now() + STALL_MS;
  while ((await receiver.ask('count')).warm < HEALTHY) {
    checkProcesses();
    if (performance.now() > warmUntil) throw new Error(`the warm-up events did not all arrive within ${STALL_MS / 1000} s`);
    await sleep(100);
  }

  step(`Sending ${EVENTS} events at ${RATE}/s`);
  const sentAt = new Float64Array(HEALTHY_EVENTS).fill(Number.NaN);
  const firstSend = now();
  let next = 0;
  let inFlight = 0;
  let failed;
  let lastLog = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      if (failed) return resolve();
      const due = Math.min(EVENTS, Math.floor(((now() - firstSend) / 1000) * RATE) + 1);
      while (next < due && inFlight < IN_FLIGHT) {
        const index = next;
        next += 1;
        inFlight += 1;
        const healthyIndex = isNoisy(index) ? -1 : Math.floor(index / 2);
        const event = isNoisy(index)
          ? { id: `${KEY}noisy_${index}`, type: 'nn.sent', destinations: [noisyId], data: { index } }
          : { id: `${KEY}_${healthyIndex}`, type: 'nn.sent', destinations: [healthyIds[healthyIndex % HEALTHY]], data: { index } };
        if (healthyIndex >= 0) sentAt[healthyIndex] = now();
        postEvent(agent, base, event)
          .catch((error) => (failed ??= error))
          .finally(() => {
            inFlight -= 1;
            if (next >= EVENTS && inFlight === 0) resolve();
          });
      }
      if (performance.now() - lastLog >= 5_000) {
        lastLog = performance.now();
        console.log(`  ${next} sent`);
      }
      if (next < EVENTS) setTimeout(tick, 5);
    };
    tick();
  });
  if (failed) throw failed;
  checkProcesses();
  const lastSend = now();
  console.log(`  all ${EVENTS} sent in ${((lastSend - firstSend) / 1000).toFixed(1)} s (${rate((EVENTS * 1000) / (lastSend - firstSend))} events/s)`);

  step('Waiting for every healthy delivery');
  let received = 0;
  let lastProgress = performance.now();
  for (;;) {
    checkProcesses();
    const count = (await receiver.ask('count')).received;
    if (count !== received) {
      received = count;
      lastProgress = performance.now();
    }
    if (received >= HEALTHY_EVENTS || performance.now() - lastProgress > STALL_MS) break;
    await sleep(250);
  }
  const waitedUntil = now();
  const report = await receiver.ask('report');

  const latencies = [];
  let lastArrival = firstSend;
  let later = 0;
  for (let i = 0; i < HEALTHY_EVENTS; i += 1) {
    const at = report.times[i];
    if (Number.isNaN(at)) continue;
    lastArrival = Math.max(lastArrival, at);
    if (report.attempts[i] === 1) latencies.push(at - sentAt[i]);
    else later += 1;
  }
  latencies.sort((a, b) => a - b);
  return {
    latencies,
    received: report.received,
    later,
    duplicates: report.duplicates,
    strays: report.strays,
    noisy: report.noisy,
    seconds: (waitedUntil - firstSend) / 1000,
    sendRate: (EVENTS * 1000) / (lastSend - firstSend),
    deliveredPerSecond: (report.received * 1000) / (lastArrival - firstSend),
  };
}

function printReport(r) {
  const percentile = (p) => r.latencies[Math.min(r.latencies.length - 1, Math.max(0, Math.ceil((p / 100) * r.latencies.length) - 1))] ?? Number.NaN;
  const p99 = percentile(99);
  const allDelivered = r.received === HEALTHY_EVENTS;
  console.log('\n== Noisy neighbour ==');
  console.log(`healthy destinations: ${HEALTHY}; noisy destination: ${MODE === '429' ? '429 with Retry-After: 1' : `no answer, timeout ${TIMEOUT_MS} ms`}`);
  console.log(
    `healthy deliveries: ${allDelivered ? 'all' : 'NOT all'}, ${r.received} of ${HEALTHY_EVENTS} (first attempts ${r.latencies.length}, later ${r.later}, duplicates ${r.duplicates}, strays ${r.strays})`,
  );
  console.log(
    `healthy first-attempt latency (send to arrival): p50 ${Math.round(percentile(50))} ms, p99 ${Math.round(p99)} ms, longest ${Math.round(r.latencies.at(-1) ?? Number.NaN)} ms`,
  );
  const answered = MODE === '429' ? `${r.noisy.tooMany} answered 429` : `${r.noisy.abandoned} abandoned at the timeout`;
  console.log(`noisy destination: ${r.noisy.requests} attempts (${answered}), ${rate(r.noisy.requests / r.seconds)}/s over ${r.seconds.toFixed(1)} s`);
  console.log(`healthy deliveries per second: ${rate(r.deliveredPerSecond)} (events sent at ${rate(r.sendRate)}/s, half of them to the noisy destination)`);
  console.log(`target: healthy first attempts p99 at most ${TARGET_P99_MS / 1000} s: ${allDelivered && p99 <= TARGET_P99_MS ? 'met' : 'MISSED'}`);
}

// ---------------------------------------------------------------------------------------------

async function startReceiver() {
  const child = fork(path.join(root, 'scripts', 'bench', 'noisy-receiver.mjs'), [KEY, String(HEALTHY_EVENTS), MODE], {
    cwd: root,
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  startProcess('receiver', child);
  const replies = new Map();
  child.on('message', (message) => {
    const resolve = replies.get(message.type);
    replies.delete(message.type);
    resolve?.(message);
  });
  const [listening] = await once(child, 'message');
  const ask = (type) => {
    const answer = new Promise((resolve) => replies.set(type, resolve));
    child.send({ type });
    return answer;
  };
  return { url: listening.url, pid: child.pid, ask };
}

async function postEvent(agent, base, event) {
  const answer = await callApi(agent, base, bootstrapKey, 'POST', '/v1/events', event);
  if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
}

function rate(value) {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
}

function usageError(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}
