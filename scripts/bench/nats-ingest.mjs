// npm run bench -- --nats-ingest: how fast the worker takes events in from a NATS JetStream
// stream, against a bare JetStream consumer of the same messages.
//
// The scenario: Dispatch's API and worker, built, as real processes on a database, a queue
// prefix and a Redis server of their own (the machine's redis-server binary on a free loopback
// port, saving nothing), the worker taking in events from a stream of the run's own on the
// machine's NATS server (DISPATCH_NATS_URL, default nats://127.0.0.1:4222, which must be on
// loopback). The organization has no destination, so what is measured is the ingest itself: read,
// validate, route, one write per group and the acknowledgements. The bare baseline, in this
// process: a durable pull consumer on a second stream of the run's own that does nothing with a
// message but acknowledge it (consume, ack).
//
// Each side is measured the same way: with its consumer running and idle, this process
// publishes --events messages (each an event as for POST /v1/events, with a Nats-Msg-Id),
// --in-flight publishes at a time, and the clock runs from the first publish until the last
// message is taken in: for Dispatch the last event's received_at (written by PostgreSQL as it
// commits), for the bare side the last acknowledgement. After a warm-up of --events messages on
// each side, --rounds rounds (3 by default) measure both, in alternating order. Each round's ratio
// is Dispatch's events per second over the bare side's messages per second; the last line is
// "nats ingest ratio: <median> (min …, max … over N rounds)".
//
// Everything it sends goes to loopback. The streams, the processes, the Redis server and the
// database it makes are removed at the end, on failure and on Ctrl+C.
//
// Usage: node scripts/bench.mjs --nats-ingest [--events N] [--in-flight N] [--rounds N] [--no-build]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AckPolicy, connect } from 'nats';
import pg from 'pg';
import { Agent } from 'undici';
import {
  buildAll,
  callApi,
  checkProcesses,
  loopbackDatabaseUrl,
  onCleanup,
  positiveInteger,
  prepareDatabase,
  runBenchmark,
  sleep,
  startDispatch,
  startOwnRedis,
  step,
  withDatabase,
} from './harness.mjs';

const USAGE = 'Usage: node scripts/bench.mjs --nats-ingest [--events N] [--in-flight N] [--rounds N] [--no-build]';
/** The longest a phase may go without progress before the run gives up. */
const STALL_MS = 60_000;
const PAD = 'x'.repeat(200);

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      'nats-ingest': { type: 'boolean' },
      events: { type: 'string', default: '5000' },
      'in-flight': { type: 'string', default: '256' },
      rounds: { type: 'string', default: '3' },
      'no-build': { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  usageError(error.message);
}
const EVENTS = positiveInteger(options.events, '--events', usageError);
const IN_FLIGHT = positiveInteger(options['in-flight'], '--in-flight', usageError);
const ROUNDS = positiveInteger(options.rounds, '--rounds', usageError);

const natsUrl = process.env.DISPATCH_NATS_URL ?? 'nats://127.0.0.1:4222';
if (!/^nats:\/\/(127(\.\d{1,3}){3}|localhost|\[::1\])(:\d+)?$/.test(natsUrl)) usageError(`DISPATCH_NATS_URL must name NATS on loopback, not "${natsUrl}"`);
const runId = randomBytes(4).toString('hex');
const prefix = `benchni${runId}`;
const databaseName = `dispatch_bench_ni_${runId}`;
const databaseUrl = withDatabase(loopbackDatabaseUrl(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', usageError), databaseName);
const bootstrapKey = randomBytes(16).toString('hex');
const dispatchStream = { name: `DISPATCH_BENCH_INGEST_${runId}`, subject: `bench_ingest_${runId}` };
const bareStream = { name: `DISPATCH_BENCH_BARE_${runId}`, subject: `bench_bare_${runId}` };

await runBenchmark(main, printReport);

async function main() {
  console.log(`Dispatch NATS ingest benchmark: ${ROUNDS} round${ROUNDS === 1 ? '' : 's'} of ${EVENTS} messages, ${IN_FLIGHT} publishes in flight, NATS at ${natsUrl}`);
  if (!options['no-build']) buildAll();

  const nats = await connect({ servers: natsUrl, name: 'dispatch-bench' });
  onCleanup('close the NATS connection', () => nats.close());
  const manager = await nats.jetstreamManager();
  const js = nats.jetstream();
  for (const stream of [dispatchStream, bareStream]) onCleanup(`delete stream ${stream.name}`, () => manager.streams.delete(stream.name).catch(() => undefined));

  step('Redis server of the scenario');
  const redisServer = await startOwnRedis('scenario');
  console.log(`  at ${redisServer.url} (pid ${redisServer.child.pid})`);

  step(`Database ${databaseName}, queue prefix ${prefix}`);
  await prepareDatabase(databaseUrl, databaseName);
  const database = new pg.Client({ connectionString: databaseUrl });
  await database.connect();
  onCleanup('close the database connection', () => database.end());

  step('Starting the API and the worker');
  const { api, worker, base } = await startDispatch({
    databaseUrl,
    redisUrl: redisServer.url,
    bootstrapKey,
    prefix,
    env: { DISPATCH_NATS_URL: natsUrl, DISPATCH_NATS_INGEST_STREAM: dispatchStream.name, DISPATCH_NATS_INGEST_SUBJECTS: `${dispatchStream.subject}.>` },
  });
  console.log(`  ready at ${base} (pids ${api.child.pid}, ${worker.child.pid})`);
  const agent = new Agent({ connections: 1 });
  onCleanup('close the HTTP client', () => agent.close());
  const organization = await callApi(agent, base, bootstrapKey, 'GET', '/v1/organization');
  if (organization.status !== 200) throw new Error(`GET /v1/organization answered ${organization.status}`);
  const subject = `${dispatchStream.subject}.${organization.body.id}.bench`;
  const until = performance.now() + STALL_MS;
  while (!(await manager.consumers.info(dispatchStream.name, 'dispatch-ingest').catch(() => null))) {
    checkProcesses();
    if (performance.now() > until) throw new Error(`the worker made no consumer on ${dispatchStream.name} within ${STALL_MS / 1000} s`);
    await sleep(100);
  }

  step('The bare consumer (consume, ack)');
  await manager.streams.add({ name: bareStream.name, subjects: [`${bareStream.subject}.>`] });
  await manager.consumers.add(bareStream.name, { durable_name: 'bare', ack_policy: AckPolicy.Explicit });
  const bare = startBare(await js.consumers.get(bareStream.name, 'bare'));

  const sides = {
    dispatch: (phase) => dispatchPhase(js, database, subject, phase),
    bare: (phase) => barePhase(js, bare, phase),
  };
  step(`Warm-up: ${EVENTS} messages on each side`);
  await sides.dispatch('warm');
  await sides.bare('warm');

  const rounds = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const order = round % 2 === 1 ? ['dispatch', 'bare'] : ['bare', 'dispatch'];
    const figures = { round };
    for (const side of order) {
      step(`Round ${round}/${ROUNDS}, ${side === 'dispatch' ? 'Dispatch' : 'bare JetStream consumer'}: ${EVENTS} messages`);
      figures[side] = await sides[side](`r${round}`);
      console.log(`  ${rate(figures[side])} messages/s`);
    }
    figures.ratio = figures.dispatch / figures.bare;
    rounds.push(figures);
  }
  bare.stop();
  return rounds;
}

/** Publishes `count` messages, IN_FLIGHT at a time; answers when the first was sent (epoch ms). */
async function publishAll(js, subject, phase) {
  const firstSend = Date.now();
  let next = 0;
  const lane = async () => {
    while (next < EVENTS) {
      const i = next++;
      const body = JSON.stringify({ type: 'bench.ingested', data: { phase, i, pad: PAD } });
      await js.publish(subject, body, { msgID: `${runId}-${subject}-${phase}-${i}` });
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, EVENTS) }, lane));
  return firstSend;
}

/** Dispatch's side: messages/s from the first publish to the commit of the phase's last event. */
async function dispatchPhase(js, database, subject, phase) {
  const count = async () =>
    (await database.query(`SELECT count(*)::int AS n, max(received_at) AS last FROM events WHERE type = 'bench.ingested' AND data->>'phase' = $1`, [phase])).rows[0];
  const firstSend = await publishAll(js, subject, phase);
  let seen = -1;
  let progressAt = performance.now();
  for (;;) {
    checkProcesses();
    const { n, last } = await count();
    if (n >= EVENTS) return (EVENTS * 1000) / (last.getTime() - firstSend);
    if (n !== seen) [seen, progressAt] = [n, performance.now()];
    if (performance.now() - progressAt > STALL_MS) throw new Error(`Dispatch took in ${n} of ${EVENTS} messages, then nothing for ${STALL_MS / 1000} s`);
    await sleep(50);
  }
}

/** The bare consumer: acknowledges each message, counting by phase when it did. */
function startBare(consumer) {
  const acked = new Map();
  let messages;
  const running = (async () => {
    messages = await consumer.consume({ max_messages: 512 });
    for await (const message of messages) {
      message.ack();
      const { phase } = JSON.parse(message.string()).data;
      const entry = acked.get(phase) ?? { n: 0, last: 0 };
      entry.n += 1;
      entry.last = Date.now();
      acked.set(phase, entry);
    }
  })();
  onCleanup('stop the bare consumer', async () => {
    messages?.stop();
    await running.catch(() => undefined);
  });
  return { acked, stop: () => messages?.stop() };
}

/** The bare side: messages/s from the first publish to the last acknowledgement of the phase. */
async function barePhase(js, bare, phase) {
  const firstSend = await publishAll(js, `${bareStream.subject}.bench`, phase);
  const until = performance.now() + STALL_MS;
  for (;;) {
    const entry = bare.acked.get(phase);
    if (entry && entry.n >= EVENTS) return (EVENTS * 1000) / (entry.last - firstSend);
    if (performance.now() > until) throw new Error(`the bare consumer acknowledged ${entry?.n ?? 0} of ${EVENTS} messages within ${STALL_MS / 1000} s`);
    await sleep(20);
  }
}

function printReport(rounds) {
  const summary = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return { median: sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2, min: sorted[0], max: sorted.at(-1) };
  };
  const spread = (values, format) => {
    const { median, min, max } = summary(values);
    return `${format(median)} (${format(min)}–${format(max)})`;
  };
  const roundsText = `${ROUNDS} round${ROUNDS === 1 ? '' : 's'}`;
  console.log(`\n== NATS ingest: median (min–max) over ${roundsText} of ${EVENTS} messages ==`);
  console.log(
    `Dispatch: events ingested per second from the stream  ${spread(
      rounds.map((r) => r.dispatch),
      rate,
    )}`,
  );
  console.log(
    `Bare JetStream consumer (consume, ack): messages/s     ${spread(
      rounds.map((r) => r.bare),
      rate,
    )}`,
  );
  console.log(
    `Ratio by round (in order): ${rounds.map((r) => `${r.round}: ${r.ratio.toFixed(2)}${r.round % 2 === 1 ? ' (Dispatch first)' : ' (bare first)'}`).join('; ')}`,
  );
  const ratio = summary(rounds.map((r) => r.ratio));
  console.log(`nats ingest ratio: ${ratio.median.toFixed(2)} (min ${ratio.min.toFixed(2)}, max ${ratio.max.toFixed(2)} over ${roundsText})`);
}

function rate(value) {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
}

function usageError(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}
