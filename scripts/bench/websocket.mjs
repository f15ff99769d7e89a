// npm run bench -- --websocket: live WebSocket push to many sessions across two API processes,
// against bare `ws` servers fed by Redis PUBLISH.
//
// The scenario: Dispatch's two API processes and one worker, built, as real processes on
// loopback (each API on a port of its own; one database, queue prefix and Redis server of the
// run's own, the machine's redis-server binary saving nothing). Through the API it makes an
// organization, a producer key and a destination of kind `websocket` with config
// `{ "subject": "{data.user_id}" }` for the event type `bench.live` (no rate limit).
//
// The bare baseline: two bare `ws` servers (scripts/bench/ws-bare-server.mjs), each a process of
// its own, subscribed per subject to a Redis server of their own; a message is the frame Dispatch
// would send, published (Redis PUBLISH) by this process and written as it is to the sessions of
// its subject. No token, seq, order, replay, presence or backpressure: the least a push across
// processes costs.
//
// Sessions. --sessions sessions (10,000 by default) on ceil(sessions / 2) subjects `user_<n>`:
// two sessions a subject, one on each API process, so every push crosses processes for one of
// the two (the worker publishes once, both APIs push); as many on the bare servers, laid out the
// same way. The sessions are opened by two client processes (scripts/bench/ws-clients.mjs), each
// holding the sessions on one API and on one bare server, so their CPU is neither this
// process's nor the servers'; each opens at most --handshakes at a time. A Dispatch session's
// token comes from POST /v1/stream-tokens `{ subject }` (one a subject, both of its sessions use
// it). Both sides' sessions stay open, side by side, until the end. Each process needs an open
// file per session it holds: the run stops at once when the open-file limit is below that.
//
// Figures:
// - sessions opened per second, and the CPU a session costs to open;
// - memory per session of each API process: its RSS (/proc/<pid>/status) and V8 heap used
//   (dispatch_api_nodejs_heap_size_used_bytes of its /metrics; the lowest of five reads 300 ms
//   apart, so garbage not yet collected counts less) before and after its sessions open,
//   (after − before) / its sessions; the same for the bare servers (process.memoryUsage());
// - the push, saturated, after a warm-up of one event to each subject (at most 1,000) on each
//   side: --rounds rounds (3), each sending --events events (10,000) to both sides in
//   alternating order (Dispatch first in odd rounds). Dispatch's in batches of --batch-size (100)
//   through POST /v1/events/batch, --batch-in-flight (4) requests at a time, alternating between
//   the two APIs; the bare side's as pipelines of as many PUBLISH, as many at a time. Each event
//   goes to the next subject in turn. Per phase: frames received per second (from the first send
//   to the last frame), the latency from just before the request (or pipeline) that carried the
//   event (its `sentAt`, in the event's data) to the frame's arrival at the client, p50 and p99,
//   and on Linux the CPU a frame costs in each process of the side (/proc, scripts/bench/cpu.mjs;
//   Dispatch's PostgreSQL backends as pg_stat_activity lists them) and the cores the side and
//   every other process kept busy. Figures are the median (min–max) of the rounds; each round's
//   ratio is Dispatch's frames per second over the bare side's, and the last line is
//   "websocket push ratio: <median> (min …, max … over N rounds; …)";
// - the push, paced: --paced-events events (1,000) one a request (or a publish) at --paced-rate
//   per second (200), below saturation: the same latency, p50 and p99, on each side;
// - failover: with events sent at --paced-rate through the second API, the first API process is
//   killed (SIGKILL) one second in; its sessions reconnect to the second with `lastSeq` of the
//   last frame they got. It prints the time from the kill until every one of them has
//   reconnected, and until every frame sent meanwhile has arrived at every session; then, over
//   the whole run, each session's seq: gaps (a seq more than one above the last), duplicates (a
//   seq not above the last), events received twice, resync_required frames, and sessions whose
//   last seq is not the number of events sent to their subject. All must be 0; the run exits 1
//   when one is not.
//
// Everything it sends goes to loopback: DATABASE_URL must name a loopback host. Every process,
// the Redis servers and the database it creates are removed at the end, on failure and on Ctrl+C.
//
// Usage: node scripts/bench.mjs --websocket [--sessions N] [--events N] [--batch-size N] [--batch-in-flight N]
//        [--paced-events N] [--paced-rate N] [--handshakes N] [--rounds N] [--no-build]
import { fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Agent, request } from 'undici';
import { CpuSampler } from './cpu.mjs';
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
  startDispatch,
  startOwnRedis,
  startProcess,
  step,
  withChildren,
  withDatabase,
} from './harness.mjs';

const USAGE =
  'Usage: node scripts/bench.mjs --websocket [--sessions N] [--events N] [--batch-size N] [--batch-in-flight N] [--paced-events N] [--paced-rate N] [--handshakes N] [--rounds N] [--no-build]';
/** The longest a phase may go without a new frame before the run gives up. */
const STALL_MS = 60_000;
const EVENT_TYPE = 'bench.live';
const here = path.join(root, 'scripts', 'bench');

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      websocket: { type: 'boolean' },
      sessions: { type: 'string', default: '10000' },
      events: { type: 'string', default: '10000' },
      'batch-size': { type: 'string', default: '100' },
      'batch-in-flight': { type: 'string', default: '4' },
      'paced-events': { type: 'string', default: '1000' },
      'paced-rate': { type: 'string', default: '200' },
      handshakes: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '3' },
      'no-build': { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  usageError(error.message);
}
const SESSIONS = positiveInteger(options.sessions, '--sessions', usageError);
const EVENTS = positiveInteger(options.events, '--events', usageError);
const BATCH_SIZE = positiveInteger(options['batch-size'], '--batch-size', usageError);
const BATCH_IN_FLIGHT = positiveInteger(options['batch-in-flight'], '--batch-in-flight', usageError);
const PACED_EVENTS = positiveInteger(options['paced-events'], '--paced-events', usageError);
const PACED_RATE = positiveInteger(options['paced-rate'], '--paced-rate', usageError);
const HANDSHAKES = positiveInteger(options.handshakes, '--handshakes', usageError);
const ROUNDS = positiveInteger(options.rounds, '--rounds', usageError);
if (SESSIONS < 2) usageError('--sessions must be at least 2 (one on each API process)');
if (BATCH_SIZE > 500) usageError('--batch-size must be at most 500 (the most POST /v1/events/batch takes)');
/** Two sessions a subject (the last has one when --sessions is odd): session k is on subject floor(k / 2), on API k % 2. */
const SUBJECTS = Math.ceil(SESSIONS / 2);
const sessionsOf = (subject) => (2 * subject + 1 < SESSIONS ? 2 : 1);
const subjectName = (subject) => `user_${subject}`;
/** Events sent as a warm-up before the figures: one to each subject, at most 1,000. */
const WARMUP = Math.min(SUBJECTS, 1_000);

ensureFileLimit(SESSIONS + 2_048);

const runId = randomBytes(4).toString('hex');
const prefix = `benchws${runId}`;
const databaseName = `dispatch_bench_ws_${runId}`;
const databaseUrl = withDatabase(loopbackDatabaseUrl(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', usageError), databaseName);
const bootstrapKey = randomBytes(16).toString('hex');

/** Epoch ms with sub-ms resolution: comparable across the benchmark's processes. */
const now = () => performance.timeOrigin + performance.now();

/** Events sent to each subject so far, by side (the seq every session of it must end on). */
const sentTo = new Map();
/** The next subject of each side: events go to the subjects in turn. */
const nextSubject = new Map();

await runBenchmark(main, printReport);

async function main() {
  console.log(
    `Dispatch WebSocket push benchmark: ${SESSIONS} sessions on 2 API processes, ${SUBJECTS} subjects (${SESSIONS === 2 * SUBJECTS ? 'two sessions each' : 'two sessions each, the last one'}, one on each API); ${EVENTS} events saturated, ${PACED_EVENTS} at ${PACED_RATE}/s`,
  );
  if (!options['no-build']) buildAll();

  step('Redis servers of the scenario (Dispatch, bare)');
  const redisServer = await startOwnRedis('Dispatch');
  const bareRedis = await startOwnRedis('bare');
  console.log(`  Dispatch's at ${redisServer.url} (pid ${redisServer.child.pid}), the bare side's at ${bareRedis.url} (pid ${bareRedis.child.pid})`);

  step(`Database ${databaseName}, queue prefix ${prefix}`);
  await prepareDatabase(databaseUrl, databaseName);

  step('Starting two API processes and the worker');
  const started = performance.now();
  const dispatch = await startDispatch({ databaseUrl, redisUrl: redisServer.url, bootstrapKey, prefix, apis: 2 });
  const [first, second] = dispatch.apis;
  console.log(
    `  ready in ${ms(performance.now() - started)} ms: API 1 at ${first.base} (pid ${first.api.child.pid}), API 2 at ${second.base} (pid ${second.api.child.pid}), worker pid ${dispatch.worker.child.pid}`,
  );

  const agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
  onCleanup('close the HTTP client', () => agent.close());
  const expect = (answer, status, what) => {
    if (answer.status !== status) throw new Error(`${what} answered ${answer.status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
    return answer.body;
  };
  const organization = expect(await callApi(agent, first.base, bootstrapKey, 'POST', '/v1/organizations', { name: `bench-ws-${runId}` }), 201, 'POST /v1/organizations');
  const adminKey = organization.adminKey;
  const producerKey = expect(
    await callApi(agent, first.base, adminKey, 'POST', '/v1/api-keys', { name: 'bench producer', role: 'producer' }),
    201,
    'POST /v1/api-keys',
  ).key;
  const destination = expect(
    await callApi(agent, first.base, adminKey, 'POST', '/v1/destinations', {
      name: 'bench live push',
      kind: 'websocket',
      config: { subject: '{data.user_id}' },
      eventTypes: [EVENT_TYPE],
      // No limit: the benchmark measures how fast Dispatch pushes, not the default 100 a second.
      rateLimit: null,
    }),
    201,
    'POST /v1/destinations',
  );
  console.log(`  organization ${organization.id}, producer key, destination ${destination.id} (websocket, subject {data.user_id})`);

  step('Client processes (one for the sessions on each API)');
  const clients = await Promise.all([startClients('clients 1'), startClients('clients 2')]);
  console.log(`  pids ${clients.map((client) => client.pid).join(', ')}`);

  step(`Stream tokens: ${SUBJECTS} (one a subject, POST /v1/stream-tokens)`);
  const tokensStarted = performance.now();
  const tokens = new Array(SUBJECTS);
  await lanes(SUBJECTS, 32, async (subject) => {
    const { base } = dispatch.apis[subject % 2];
    const body = expect(await callApi(agent, base, producerKey, 'POST', '/v1/stream-tokens', { subject: subjectName(subject) }), 201, 'POST /v1/stream-tokens');
    tokens[subject] = body.token;
  });
  console.log(`  ${SUBJECTS} tokens in ${ms(performance.now() - tokensStarted)} ms`);

  // ----- The two sides: Dispatch's APIs, and the bare servers
  const streamUrl = (base) => `${base.replace(/^http/, 'ws')}/v1/stream`;
  const urls = [streamUrl(first.base), streamUrl(second.base)];
  // CPU (Linux, /proc): the APIs, the worker, Redis, the PostgreSQL backends of the run's database, the clients, this process.
  const monitor = new pg.Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  await monitor.connect();
  onCleanup('close the monitoring connection', () => monitor.end());
  let backends = [];
  const common = [...clients.map((client) => ({ part: 'clients', pid: client.pid })), { part: 'load', pid: process.pid }];
  const dispatchSide = {
    name: 'Dispatch',
    clients,
    memory: dispatch.apis.map(
      ({ api, base }) =>
        () =>
          readApiMemory(api.child.pid, base),
    ),
    layout: (client) => layout(client, (subject) => `token=${encodeURIComponent(tokens[subject])}`, client === 0 ? urls : [urls[1], urls[0]]),
    send: dispatchSender(agent, producerKey, dispatch.apis),
    sampler: new CpuSampler({
      refresh: async () => {
        backends = (await monitor.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [databaseName])).rows.map((row) => row.pid);
      },
      parts: () => [
        ...dispatch.apis.map(({ api }) => ({ part: 'APIs', pid: api.child.pid })),
        { part: 'worker', pid: dispatch.worker.child.pid },
        { part: 'Redis', pid: redisServer.child.pid },
        ...backends.map((pid) => ({ part: 'PostgreSQL', pid })),
        ...common,
      ],
    }),
  };

  step('Bare baseline: two ws servers fed by Redis PUBLISH');
  const bare = await Promise.all([startBare('bare server 1', bareRedis.url), startBare('bare server 2', bareRedis.url)]);
  console.log(`  at ${bare.map((server) => server.url).join(', ')} (pids ${bare.map((server) => server.pid).join(', ')})`);
  const publisher = new Redis(bareRedis.url, { maxRetriesPerRequest: null });
  onCleanup('close the bare publisher', () => publisher.disconnect());
  const bareUrls = bare.map((server) => `${server.url.replace(/^http/, 'ws')}/stream`);
  const bareSide = {
    name: 'bare',
    clients,
    memory: bare.map((server) => () => server.memory()),
    layout: (client) => layout(client, (subject) => `subject=${subjectName(subject)}`, client === 0 ? bareUrls : [bareUrls[1], bareUrls[0]]),
    send: bareSender(publisher),
    sampler: new CpuSampler({
      parts: () => [...bare.map((server) => ({ part: 'servers', pid: server.pid })), { part: 'Redis', pid: bareRedis.child.pid }, ...common],
    }),
  };

  step(`Dispatch: opening ${SESSIONS} sessions (${HANDSHAKES} handshakes at a time per client process)`);
  const dispatchOpen = await openSessions(dispatchSide);
  step(`Bare: opening ${SESSIONS} sessions`);
  const bareOpen = await openSessions(bareSide, async () => {
    // Each server subscribes as its first session of a subject opens: wait until every subject has both.
    const channels = Array.from({ length: SUBJECTS }, (_, subject) => `${prefix}:bare:${subjectName(subject)}`);
    const until = performance.now() + STALL_MS;
    for (;;) {
      let missing = 0;
      for (let start = 0; start < channels.length; start += 1_000) {
        const answer = await publisher.call('PUBSUB', 'NUMSUB', ...channels.slice(start, start + 1_000));
        for (let i = 1; i < answer.length; i += 2) missing += Math.max(0, sessionsOf(start + (i - 1) / 2) - Number(answer[i]));
      }
      if (missing === 0) return;
      if (performance.now() > until) throw new Error(`the bare servers had not subscribed to every subject within ${STALL_MS / 1000} s (${missing} missing)`);
      await sleep(100);
    }
  });

  step(`Warm-up: ${WARMUP} events through Dispatch, ${WARMUP} bare messages`);
  await burst(dispatchSide, 'dwarm', WARMUP);
  await burst(bareSide, 'bwarm', WARMUP);

  const rounds = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const order = round % 2 === 1 ? [dispatchSide, bareSide] : [bareSide, dispatchSide];
    const figures = { round };
    for (const side of order) {
      const what = side === dispatchSide ? `${EVENTS} events in batches of ${BATCH_SIZE}` : `${EVENTS} messages in pipelines of ${BATCH_SIZE}`;
      step(`Round ${round}/${ROUNDS}, ${side.name}: ${what}, ${BATCH_IN_FLIGHT} in flight`);
      figures[side.name] = await burst(side, `${side.name}_r${round}`, EVENTS);
    }
    figures.ratio = figures.Dispatch.framesPerSecond / figures.bare.framesPerSecond;
    console.log(`  round ${round}: ratio ${figures.ratio.toFixed(3)}`);
    rounds.push(figures);
  }

  step(`Dispatch: ${PACED_EVENTS} events at ${PACED_RATE}/s, one a request`);
  const dispatchPaced = await paced(dispatchSide, 'dpaced', PACED_EVENTS);
  step(`Bare: ${PACED_EVENTS} messages at ${PACED_RATE}/s, one a publish`);
  const barePaced = await paced(bareSide, 'bpaced', PACED_EVENTS);

  step(`Dispatch: failover, events at ${PACED_RATE}/s through API 2, API 1 killed (SIGKILL) 1 s in`);
  const failover = await failoverPhase(dispatchSide, first, dispatchOpen.perClient[0]);
  step('Seq of every session over the whole run');
  const check = await checkSeq(dispatchSide);
  const bareCheck = await checkSeq(bareSide);
  await Promise.all(clients.map((client) => client.ask({ type: 'close' }, 'closed')));

  return { dispatchOpen, bareOpen, rounds, dispatchPaced, barePaced, failover, check, bareCheck };
}

// ---------------------------------------------------------------------------------------------
// Sessions.

/** The sessions client process `client` (0 or 1) holds: session k with k % 2 === client, on subject floor(k / 2). */
function layout(client, query, urls) {
  const sessions = [];
  for (let k = client; k < SESSIONS; k += 2) sessions.push({ subject: subjectName(Math.floor(k / 2)), urls, query: query(Math.floor(k / 2)) });
  return sessions;
}

/** Opens every session of a side; the memory of its two servers before and after, per session. */
async function openSessions(side, ready = async () => {}) {
  const before = await Promise.all(side.memory.map((read) => settledMemory(read)));
  const window = await side.sampler.begin();
  const openedAt = performance.now();
  const answers = await Promise.all(
    side.clients.map((client, i) => client.ask({ type: 'open', group: side.name, sessions: side.layout(i), inFlight: HANDSHAKES }, 'opened')),
  );
  const openMs = performance.now() - openedAt;
  const usage = await side.sampler.end(window);
  const opened = answers.reduce((sum, answer) => sum + answer.opened, 0);
  const failures = answers.reduce((sum, answer) => sum + answer.failures, 0);
  const firstFailure = answers.find((answer) => answer.firstFailure)?.firstFailure;
  console.log(`  ${opened} open in ${ms(openMs)} ms (${rate((opened * 1000) / openMs)} a second)${failures ? `; ${failures} refused, the first: ${firstFailure}` : ''}`);
  const openCpu = usage && opened > 0 ? cpuLine(usage, opened) : null;
  if (openCpu) console.log(`  CPU a session opened (ms): ${openCpu.text}`);
  if (failures > 0) throw new Error(`${side.name}: ${failures} of ${SESSIONS} sessions could not open (the first: ${firstFailure})`);
  await ready();
  await sleep(2_000);
  const after = await Promise.all(side.memory.map((read) => settledMemory(read)));
  const perServer = after.map((memory, i) => {
    const count = answers[i].opened;
    const figures = {
      sessions: count,
      before: before[i],
      after: memory,
      rssPerSession: (memory.rss - before[i].rss) / count,
      heapPerSession: memory.heap === null || before[i].heap === null ? null : (memory.heap - before[i].heap) / count,
    };
    console.log(
      `  ${side.name} server ${i + 1}: ${count} sessions; RSS ${mib(before[i].rss)} → ${mib(memory.rss)} MiB, heap ${mib(before[i].heap)} → ${mib(memory.heap)} MiB: ${kib(figures.rssPerSession)} KiB RSS, ${kib(figures.heapPerSession)} KiB heap a session`,
    );
    return figures;
  });
  return { opened, openMs, openCpu, perServer, perClient: answers.map((answer) => answer.opened) };
}

/** A process's memory after its sessions settle: RSS now, and the lowest heap of five reads 300 ms apart. */
async function settledMemory(read) {
  let lowest = null;
  for (let i = 0; i < 5; i += 1) {
    if (i > 0) await sleep(300);
    const memory = await read();
    if (lowest === null || (memory.heap !== null && memory.heap < lowest.heap)) lowest = { ...memory };
    lowest.rss = memory.rss;
  }
  return lowest;
}

/** An API process's RSS (/proc) and V8 heap used (its /metrics; null when it cannot be read). */
async function readApiMemory(pid, base) {
  const rss = residentBytes(pid);
  const text = await fetch(`${base}/metrics`).then(
    (response) => (response.ok ? response.text() : ''),
    () => '',
  );
  const heap = /^dispatch_api_nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)/m.exec(text)?.[1];
  return { rss, heap: heap === undefined ? null : Number(heap) };
}

// ---------------------------------------------------------------------------------------------
// Sending. A side's `send.batch(events)` sends events together (one request, one pipeline) and
// `send.one(event, via)` one alone; each event is { id, subject, phase }, and `sentAt` is taken
// just before the send and carried in the event's data.

/** Dispatch: POST /v1/events/batch, alternating between the two APIs, and POST /v1/events. */
function dispatchSender(agent, producerKey, apis) {
  let turn = 0;
  const post = async (base, route, body) => {
    const response = await request(`${base}${route}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${producerKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.body.text();
    if (response.statusCode !== 202) throw new Error(`POST ${route} answered ${response.statusCode}: ${text.slice(0, 300)}`);
  };
  const toEvent = ({ id, subject, phase }, sentAt) => ({ id, type: EVENT_TYPE, data: { user_id: subject, phase, sentAt } });
  return {
    async batch(events) {
      const { base } = apis[turn++ % apis.length];
      const sentAt = now();
      await post(base, '/v1/events/batch', { events: events.map((event) => toEvent(event, sentAt)) });
    },
    async one(event, via = turn++ % apis.length) {
      await post(apis[via].base, '/v1/events', toEvent(event, now()));
    },
  };
}

/** The bare side: PUBLISH of the frame Dispatch would send, seq counted here per subject. */
function bareSender(publisher) {
  const seqs = new Map();
  const frame = ({ id, subject, phase }, sentAt) => {
    const seq = (seqs.get(subject) ?? 0) + 1;
    seqs.set(subject, seq);
    const event = { id, type: EVENT_TYPE, timestamp: new Date(sentAt).toISOString(), data: { user_id: subject, phase, sentAt } };
    return [`${prefix}:bare:${subject}`, JSON.stringify({ type: 'event', seq, event })];
  };
  return {
    async batch(events) {
      const sentAt = now();
      const pipeline = publisher.pipeline();
      for (const event of events) pipeline.publish(...frame(event, sentAt));
      await pipeline.exec();
    },
    async one(event) {
      await publisher.publish(...frame(event, now()));
    },
  };
}

function makeEvents(side, phase, count) {
  const counts = sentTo.get(side.name) ?? new Uint32Array(SUBJECTS);
  sentTo.set(side.name, counts);
  let next = nextSubject.get(side.name) ?? 0;
  const events = [];
  let frames = 0;
  for (let i = 0; i < count; i += 1) {
    const subject = next % SUBJECTS;
    next += 1;
    events.push({ id: `${runId}_${phase}_${i}`, subject: subjectName(subject), phase, index: subject });
    frames += sessionsOf(subject);
  }
  nextSubject.set(side.name, next);
  return { events, frames, counted: (event) => (counts[event.index] += 1) };
}

/** --events … in batches, --batch-in-flight at a time, as fast as they are taken: frames per second and latency. */
async function burst(side, phase, count) {
  const { events, frames, counted } = makeEvents(side, phase, count);
  const batches = [];
  for (let start = 0; start < events.length; start += BATCH_SIZE) batches.push(events.slice(start, start + BATCH_SIZE));
  const window = await side.sampler.begin();
  const firstSend = now();
  await lanes(batches.length, BATCH_IN_FLIGHT, async (i) => {
    await side.send.batch(batches[i]);
    batches[i].forEach(counted);
  });
  const sentMs = now() - firstSend;
  const figures = await framesOf(side, phase, frames, firstSend, sentMs);
  const usage = await side.sampler.end(window);
  if (usage) {
    figures.cpu = cpuLine(usage, figures.frames);
    console.log(`  CPU a frame (ms): ${figures.cpu.text}`);
  }
  return figures;
}

/** CPU ms of each part and in all per `count` (frames, sessions), the cores the side kept busy, and the cores other processes did. */
function cpuLine(usage, count) {
  const total = Object.values(usage.parts).reduce((sum, value) => sum + value, 0);
  const figures = { perUnit: total / count, coresBusy: total / usage.wallMs, otherCores: Math.max(0, usage.machineMs - total) / usage.wallMs };
  const shown = Object.entries(usage.parts).map(([part, cpuMs]) => `${part} ${(cpuMs / count).toFixed(3)}`);
  return {
    ...figures,
    text: `${shown.join(', ')}; ${figures.perUnit.toFixed(3)} in all; cores busy ${figures.coresBusy.toFixed(2)}, other processes ${figures.otherCores.toFixed(2)}`,
  };
}

/** Events one at a time at --paced-rate a second, whether or not the one before was answered. */
async function paced(side, phase, count, via) {
  const { events, frames, counted } = makeEvents(side, phase, count);
  const firstSend = now();
  await sendPaced(side, events, counted, via);
  return framesOf(side, phase, frames, firstSend, now() - firstSend);
}

/** Sends `events` at PACED_RATE a second; stops early (resolving to the number sent) once `stop()` says so. */
async function sendPaced(side, events, counted, via, stop = () => false) {
  const start = performance.now();
  let sent = 0;
  const pending = [];
  for (const event of events) {
    if (stop()) break;
    await sleep(Math.max(0, start + (sent * 1000) / PACED_RATE - performance.now()));
    pending.push(side.send.one(event, via).then(() => counted(event)));
    sent += 1;
  }
  await Promise.all(pending);
  return sent;
}

/** Waits for `expected` frames of `phase` at the clients; its frames per second and latency. */
async function framesOf(side, phase, expected, firstSend, sentMs) {
  await untilFrames(side, phase, expected);
  const reports = await Promise.all(side.clients.map((client) => client.ask({ type: 'report', phase }, 'report')));
  const latencies = new Float64Array(reports.reduce((sum, report) => sum + report.latencies.length, 0));
  let offset = 0;
  for (const report of reports) {
    latencies.set(report.latencies, offset);
    offset += report.latencies.length;
  }
  const lastAt = Math.max(...reports.map((report) => report.lastAt));
  const figures = {
    frames: latencies.length,
    framesPerSecond: (latencies.length * 1000) / (lastAt - firstSend),
    sentPerSecond: (expected * 1000) / sentMs,
    latency: percentiles(latencies),
  };
  console.log(
    `  ${figures.frames} frames in ${ms(lastAt - firstSend)} ms: ${rate(figures.framesPerSecond)} frames/s; send-to-frame p50 ${ms(figures.latency.p50)} ms, p99 ${ms(figures.latency.p99)} ms, max ${ms(figures.latency.max)} ms`,
  );
  return figures;
}

/**
 * Waits until `expected` frames of `phase` have arrived; throws when none arrived for STALL_MS,
 * or, with `missingAfterMs`, answers the frames missing once none arrived for that long.
 */
async function untilFrames(side, phase, expected, missingAfterMs = null) {
  let seen = -1;
  let progressAt = performance.now();
  let logAt = performance.now();
  for (;;) {
    checkProcesses();
    const counts = await Promise.all(side.clients.map((client) => client.ask({ type: 'count', group: side.name }, 'count')));
    const frames = counts.reduce((sum, count) => sum + (count.phases[phase] ?? 0), 0);
    if (frames >= expected) return 0;
    if (frames !== seen) [seen, progressAt] = [frames, performance.now()];
    if (missingAfterMs !== null && performance.now() - progressAt > missingAfterMs) return expected - frames;
    if (performance.now() - progressAt > STALL_MS) throw new Error(`${side.name} ${phase}: ${frames} of ${expected} frames arrived, then none for ${STALL_MS / 1000} s`);
    if (performance.now() - logAt > 5_000) {
      logAt = performance.now();
      console.log(`  … ${frames} of ${expected} frames`);
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Failover.

async function failoverPhase(side, killed, sessionsOnKilled) {
  // Enough events for the longest the phase may take; it stops sending once the sessions are back.
  const { events, counted } = makeEvents(side, 'dkill', PACED_RATE * 120);
  let stopAt = Infinity;
  const sent = sendPaced(side, events, counted, 1, () => performance.now() > stopAt);
  sent.catch(() => {});
  await sleep(1_000);
  killed.api.stopping = true; // killed on purpose: not a process that failed the run
  const window = await side.sampler.begin();
  const killAt = now();
  let goneAt = 0;
  killed.api.exit.then(() => (goneAt = now()));
  killed.api.child.kill('SIGKILL');
  console.log(`  API 1 (pid ${killed.api.child.pid}) killed with ${sessionsOnKilled} sessions`);
  const until = performance.now() + STALL_MS;
  let status;
  for (;;) {
    checkProcesses();
    const { reconnected } = await side.clients[0].ask({ type: 'count', group: side.name }, 'count');
    if (reconnected >= sessionsOnKilled) break;
    if (performance.now() > until) {
      status = await side.clients[0].ask({ type: 'check', group: side.name }, 'check');
      throw new Error(
        `${status.reconnected} of ${sessionsOnKilled} sessions had reconnected ${STALL_MS / 1000} s after the kill (${status.reconnectFailures} attempts refused, the first: ${status.firstReconnectFailure})`,
      );
    }
    await sleep(50);
  }
  status = await side.clients[0].ask({ type: 'check', group: side.name }, 'check');
  const reconnectMs = status.lastReconnectAt - killAt;
  const firstCloseMs = status.firstCloseAt - killAt;
  const firstReconnectMs = status.firstReconnectAt - killAt;
  const goneMs = goneAt - killAt;
  console.log(
    `  all ${sessionsOnKilled} reconnected to API 2 ${ms(reconnectMs)} ms after the kill (the process gone at ${ms(goneMs)} ms, the first close seen at ${ms(firstCloseMs)} ms, the first reconnect at ${ms(firstReconnectMs)} ms; ${status.reconnectFailures} attempts refused on the way${status.firstReconnectFailure ? `, the first: ${status.firstReconnectFailure}` : ''})`,
  );
  stopAt = performance.now() + 1_000;
  const count = await sent;
  // What every session must get: each event sent in the phase, at every session of its subject.
  let expected = 0;
  for (let i = 0; i < count; i += 1) expected += sessionsOf(Number(events[i].index));
  // Frames a session never gets (a gap) would hold the phase up forever: after 15 s with none, the seq check says which.
  const missing = await untilFrames(side, 'dkill', expected, 15_000);
  const caughtUpMs = missing === 0 ? now() - killAt : null;
  const usage = await side.sampler.end(window);
  if (missing === 0) console.log(`  ${count} events sent in the phase; every session had all of their frames ${ms(caughtUpMs)} ms after the kill`);
  else console.log(`  ${count} events sent in the phase; ${missing} of their ${expected} frames had not arrived 15 s after the last one that did`);
  // From the kill until every frame arrived: the reconnects, their replay, and the events sent meanwhile.
  if (usage) console.log(`  CPU a session reconnected (ms), with the events of the phase: ${cpuLine(usage, sessionsOnKilled).text}`);
  return { sessions: sessionsOnKilled, reconnectMs, firstCloseMs, firstReconnectMs, caughtUpMs, missing, refused: status.reconnectFailures, events: count };
}

/** Gaps, duplicates, repeated events, resyncs, and sessions not at the last seq of their subject. */
async function checkSeq(side) {
  const checks = await Promise.all(side.clients.map((client) => client.ask({ type: 'check', group: side.name }, 'check')));
  const counts = sentTo.get(side.name);
  const sum = (field) => checks.reduce((total, check) => total + check[field], 0);
  let behind = 0;
  let sessions = 0;
  let firstBehind = null;
  for (const check of checks) {
    for (const [subject, seqs] of Object.entries(check.lastSeq)) {
      const want = counts[Number(subject.slice('user_'.length))];
      for (const seq of seqs) {
        sessions += 1;
        if (seq !== want) {
          behind += 1;
          firstBehind ??= `${subject} at seq ${seq} of ${want}`;
        }
      }
    }
  }
  const figures = { gaps: sum('gaps'), duplicates: sum('duplicates'), repeatedEvents: sum('repeatedEvents'), resyncs: sum('resyncs'), behind, sessions, firstBehind };
  console.log(
    `  ${side.name}: ${sessions} sessions, ${figures.gaps} gaps, ${figures.duplicates} duplicates, ${figures.repeatedEvents} events received twice, ${figures.resyncs} resync_required, ${behind} not at their subject's last seq${firstBehind ? ` (e.g. ${firstBehind})` : ''}`,
  );
  return figures;
}

// ---------------------------------------------------------------------------------------------
// Child processes: the clients and the bare servers.

async function startClients(name) {
  const child = fork(path.join(here, 'ws-clients.mjs'), [], { cwd: root, serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  startProcess(name, child);
  const waiters = new Map(); // answer type → resolvers, in order
  child.on('message', (message) => waiters.get(message.type)?.shift()?.(message));
  const answer = (type) =>
    new Promise((resolve) => {
      if (!waiters.has(type)) waiters.set(type, []);
      waiters.get(type).push(resolve);
    });
  await withChildren(answer('ready'));
  return {
    pid: child.pid,
    ask(message, type) {
      const reply = answer(type);
      child.send(message);
      return withChildren(reply);
    },
  };
}

async function startBare(name, redisUrl) {
  const child = fork(path.join(here, 'ws-bare-server.mjs'), [redisUrl, `${prefix}:bare:`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  startProcess(name, child);
  const [listening] = await withChildren(once(child, 'message'));
  return {
    url: listening.url,
    pid: child.pid,
    async memory() {
      const answer = once(child, 'message');
      child.send({ type: 'memory' });
      const [{ rss, heapUsed }] = await withChildren(answer);
      return { rss, heap: heapUsed };
    },
  };
}

/**
 * A process holds a socket per session, up to every session (the surviving API after the
 * failover): it needs `need` open files. Node raises its own soft limit to the hard one at start,
 * and the processes it starts inherit that; when the soft limit is still below `need` (and the
 * hard one is not), the run starts again in a shell that raised it (`ulimit -Sn`). Below the hard
 * limit, it stops at once, naming it.
 */
function ensureFileLimit(need) {
  const [soft, hard] = spawnSync('bash', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .map((text) => (text === 'unlimited' ? Infinity : Number(text)));
  if (!(soft < need)) return; // enough, or unlimited
  const target = Math.min(hard, Math.max(need, 65_536));
  if (target < need || process.env.DISPATCH_BENCH_FILE_LIMIT) {
    usageError(
      `--sessions ${SESSIONS} needs ${need} open files a process; the limit is ${soft} and cannot be raised above ${hard} here (ulimit -Hn, as root), or use fewer sessions`,
    );
  }
  console.log(`(the open-file limit is ${soft}: running again with ulimit -Sn ${target})`);
  const again = spawnSync(
    'bash',
    ['-c', `ulimit -Sn ${target} && exec "$@"`, 'bench', process.execPath, ...process.execArgv, process.argv[1], ...process.argv.slice(2)],
    {
      stdio: 'inherit',
      env: { ...process.env, DISPATCH_BENCH_FILE_LIMIT: String(target) },
    },
  );
  process.exit(again.status ?? 1);
}

// ---------------------------------------------------------------------------------------------
// Output.

function printReport({ dispatchOpen, bareOpen, rounds, dispatchPaced, barePaced, failover, check, bareCheck }) {
  const perSession = (open, name) =>
    open.perServer
      .map((server, i) => `${name} ${i + 1} ${kib(server.rssPerSession)} KiB RSS, ${kib(server.heapPerSession)} KiB heap (${server.sessions} sessions)`)
      .join('; ');
  const opening = (open) => `${rate((open.opened * 1000) / open.openMs)}${open.openCpu ? `; CPU ${open.openCpu.perUnit.toFixed(3)} ms a session opened` : ''}`;
  const over = (pick, format) => spread(rounds.map(pick), format);
  const pair = (side, low, high) => `${over((r) => r[side].latency[low], ms)} / ${over((r) => r[side].latency[high], ms)}`;
  const withCpu = rounds.every((r) => r.Dispatch.cpu && r.bare.cpu);
  const roundsText = `${ROUNDS} round${ROUNDS === 1 ? '' : 's'}`;
  const rows = [
    ['Sessions', `${SESSIONS} on ${SUBJECTS} subjects, half on each server`],
    ['Dispatch: sessions opened a second', opening(dispatchOpen)],
    ['Bare ws: sessions opened a second', opening(bareOpen)],
    ['Dispatch: memory a session', perSession(dispatchOpen, 'API')],
    ['Bare ws: memory a session', perSession(bareOpen, 'server')],
    ['Dispatch: frames/s, saturated', over((r) => r.Dispatch.framesPerSecond, rate)],
    ['Bare ws: frames/s, saturated', over((r) => r.bare.framesPerSecond, rate)],
    ...(withCpu
      ? [
          ['Dispatch: CPU a frame (ms), saturated', over((r) => r.Dispatch.cpu.perUnit, cpuMs)],
          ['Bare ws: CPU a frame (ms), saturated', over((r) => r.bare.cpu.perUnit, cpuMs)],
          ['Dispatch / bare: cores busy, saturated', `${over((r) => r.Dispatch.cpu.coresBusy, cores)} / ${over((r) => r.bare.cpu.coresBusy, cores)}`],
          ['Other processes: cores busy, Dispatch / bare', `${over((r) => r.Dispatch.cpu.otherCores, cores)} / ${over((r) => r.bare.cpu.otherCores, cores)}`],
        ]
      : []),
    ['Dispatch: send-to-frame p50 / p99 (ms), saturated', pair('Dispatch', 'p50', 'p99')],
    ['Bare ws: send-to-frame p50 / p99 (ms), saturated', pair('bare', 'p50', 'p99')],
    [`Dispatch: send-to-frame p50 / p99 (ms) at ${PACED_RATE}/s`, `${ms(dispatchPaced.latency.p50)} / ${ms(dispatchPaced.latency.p99)}`],
    [`Bare ws: send-to-frame p50 / p99 (ms) at ${PACED_RATE}/s`, `${ms(barePaced.latency.p50)} / ${ms(barePaced.latency.p99)}`],
    [
      'Failover: API 1 killed (SIGKILL)',
      `${failover.sessions} sessions reconnected to API 2 in ${ms(failover.reconnectMs)} ms (the first in ${ms(failover.firstReconnectMs)}), ${failover.missing === 0 ? `all frames in ${ms(failover.caughtUpMs)} ms` : `${failover.missing} frames never arrived`} (${failover.refused} attempts refused, ${failover.events} events sent meanwhile)`,
    ],
    [
      'Dispatch: seq over the run',
      `${check.gaps} gaps, ${check.duplicates} duplicates, ${check.repeatedEvents} events twice, ${check.resyncs} resync_required, ${check.behind} of ${check.sessions} sessions behind`,
    ],
    ['Bare ws: seq over the run', `${bareCheck.gaps} gaps, ${bareCheck.duplicates} duplicates, ${bareCheck.behind} of ${bareCheck.sessions} sessions behind`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  console.log(
    `\n== WebSocket push: ${SESSIONS} sessions; saturated: median (min–max) over ${roundsText} of ${EVENTS} events (batches of ${BATCH_SIZE}); ${PACED_EVENTS} at ${PACED_RATE}/s ==`,
  );
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
  console.log(
    `Ratio by round (in order): ${rounds.map((r) => `${r.round}: ${r.ratio.toFixed(3)}${r.round % 2 === 1 ? ' (Dispatch first)' : ' (bare first)'}`).join('; ')}`,
  );
  const ok = check.gaps + check.duplicates + check.repeatedEvents + check.resyncs + check.behind + failover.missing === 0;
  console.log(`seq check: ${ok ? 'ok (no gap, no duplicate, every session at its last seq)' : 'FAILED'}`);
  const ratio = summary(rounds.map((r) => r.ratio));
  console.log(
    `websocket push ratio: ${ratio.median.toFixed(3)} (min ${ratio.min.toFixed(3)}, max ${ratio.max.toFixed(3)} over ${roundsText}; Dispatch's frames/s over the bare ws servers', saturated)`,
  );
  if (!ok) process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** Runs `work(i)` for i in 0…count-1, `width` at a time. */
async function lanes(count, width, work) {
  let next = 0;
  const lane = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane));
}

function percentiles(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  return { p50: at(50), p99: at(99), max: sorted[sorted.length - 1] };
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return { median: sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2, min: sorted[0], max: sorted.at(-1) };
}

function spread(values, format) {
  const { median, min, max } = summary(values);
  return values.length === 1 ? format(median) : `${format(median)} (${format(min)}–${format(max)})`;
}

function cpuMs(value) {
  return value.toFixed(3);
}

function cores(value) {
  return value.toFixed(2);
}

function rate(value) {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
}

function ms(value) {
  return value.toFixed(1);
}

function mib(bytes) {
  return bytes === null ? '?' : (bytes / 1_048_576).toFixed(1);
}

function kib(bytes) {
  return bytes === null ? '?' : (bytes / 1024).toFixed(1);
}

function usageError(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}
