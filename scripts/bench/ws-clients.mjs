// WebSocket sessions of the websocket benchmark (scripts/bench/websocket.mjs), run as a child
// process of the benchmark (fork, IPC), so their CPU is not the measuring process's.
//
// It opens the sessions it is given (a subject, a URL without query, and the query that
// authenticates it), at most `inFlight` handshakes at a time, and reads every frame:
// - an event frame's latency is its arrival (epoch ms, performance.timeOrigin + performance.now(),
//   comparable with the other processes' times) minus the `sentAt` in the event's data, filed
//   under the `phase` in the event's data;
// - each session keeps the last `seq` it got: a frame whose seq is not the last + 1 is a gap
//   (higher) or a duplicate (not higher); a `resync_required` frame is counted apart;
// - a session that closes without being asked reconnects to its next URL (round robin over the
//   ones it was given) with `lastSeq=<the last seq it got>` (0 if none), through the same handshake limit,
//   trying again every 100–300 ms while refused; the time of each reconnect is kept.
//
// Sessions belong to a group (the servers they were opened to: the benchmark keeps Dispatch's and
// the bare baseline's open side by side), and these counts are kept per group.
//
// Messages from the parent:
//   { type: 'open', group, sessions: [{ subject, urls, query }], inFlight }  → { type: 'opened', opened, failures, firstFailure, ms }
//   { type: 'count', group }          → { type: 'count', phases: { <phase>: frames }, reconnected, open }
//   { type: 'report', phase }         → { type: 'report', phase, latencies: Float64Array, frames, firstAt, lastAt }
//   { type: 'check', group }          → { type: 'check', gaps, duplicates, repeatedEvents, resyncs, lastSeq: { <subject>: [seq of each session] },
//                                          firstCloseAt, reconnected, firstReconnectAt, lastReconnectAt, reconnectFailures, firstReconnectFailure,
//                                          open, closeCodes }
//   { type: 'close' }                 → { type: 'closed' } once every session is closed
// Messages to the parent: the answers above, and { type: 'ready' } once.
import WebSocket from 'ws';

const now = () => performance.timeOrigin + performance.now();

/** Every session: { group, tally, subject, urls, query, next, ws, lastSeq, ids: Set, closing }. */
let sessions = [];
let inFlight = 100;
let handshakes = 0;
const waiting = []; // sessions waiting for a handshake slot
const phases = new Map(); // phase → { latencies: number[], firstAt, lastAt }
/** The counts of each group of sessions. */
const tallies = new Map();
let closingAll = null;

function tallyOf(group) {
  let tally = tallies.get(group);
  if (!tally) {
    tally = {
      gaps: 0,
      duplicates: 0,
      repeatedEvents: 0,
      resyncs: 0,
      firstCloseAt: 0,
      reconnected: 0,
      firstReconnectAt: 0,
      lastReconnectAt: 0,
      reconnectFailures: 0,
      firstReconnectFailure: null,
      closeCodes: {},
    };
    tallies.set(group, tally);
  }
  return tally;
}

function urlOf(session) {
  const url = new URL(session.urls[session.next % session.urls.length]);
  url.search = session.query;
  // A reconnect names the last seq it got, 0 included (a new session starts after the subject's last).
  if (session.next > 0) url.searchParams.set('lastSeq', String(session.lastSeq));
  return url.toString();
}

/** Opens `session` once a handshake slot is free; resolves to null once open, or the reason it was refused. */
function connect(session) {
  return new Promise((resolve) => {
    const start = () => {
      handshakes += 1;
      const ws = new WebSocket(urlOf(session));
      session.ws = ws;
      let settled = false;
      let wasOpen = false;
      const done = (failure) => {
        if (settled) return;
        settled = true;
        handshakes -= 1;
        waiting.shift()?.();
        resolve(failure);
      };
      ws.on('open', () => {
        wasOpen = true;
        done(null);
      });
      ws.on('unexpected-response', (request, response) => {
        done(`HTTP ${response.statusCode}`);
        response.resume();
        request.destroy();
      });
      ws.on('error', (error) => done(error.code ?? error.message));
      ws.on('message', (data) => frame(session, data));
      ws.on('close', (code) => {
        if (!wasOpen) return; // a handshake that failed: reported through done()
        const { tally } = session;
        tally.closeCodes[code] = (tally.closeCodes[code] ?? 0) + 1;
        if (session.closing) return;
        tally.firstCloseAt ||= now();
        reconnect(session);
      });
    };
    if (handshakes < inFlight) start();
    else waiting.push(start);
  });
}

async function reconnect(session) {
  const { tally } = session;
  for (;;) {
    session.next += 1;
    const failure = await connect(session);
    if (!failure) {
      tally.reconnected += 1;
      tally.lastReconnectAt = now();
      tally.firstReconnectAt ||= tally.lastReconnectAt;
      return;
    }
    tally.reconnectFailures += 1;
    tally.firstReconnectFailure ??= failure;
    if (session.closing) return;
    await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
  }
}

function frame(session, data) {
  const at = now();
  let message;
  try {
    message = JSON.parse(data.toString());
  } catch {
    return;
  }
  const { tally } = session;
  if (message.type === 'resync_required') {
    tally.resyncs += 1;
    // What follows starts at fromSeq: the ones before it are gone, not a gap this session caused.
    session.lastSeq = Math.max(session.lastSeq, message.fromSeq - 1);
    return;
  }
  if (message.type !== 'event') return;
  if (message.seq > session.lastSeq + 1) tally.gaps += 1;
  if (message.seq <= session.lastSeq) tally.duplicates += 1;
  else session.lastSeq = message.seq;
  const id = message.event?.id;
  if (session.ids.has(id)) tally.repeatedEvents += 1;
  session.ids.add(id);
  const { phase, sentAt } = message.event?.data ?? {};
  let entry = phases.get(phase);
  if (!entry) {
    entry = { latencies: [], firstAt: at, lastAt: at };
    phases.set(phase, entry);
  }
  entry.latencies.push(at - sentAt);
  entry.lastAt = at;
}

async function open({ group, sessions: given, inFlight: limit }) {
  inFlight = limit;
  const started = performance.now();
  const tally = tallyOf(group);
  const opened = given.map(({ subject, urls, query }) => ({ group, tally, subject, urls, query, next: 0, ws: null, lastSeq: 0, ids: new Set(), closing: false }));
  let failures = 0;
  let firstFailure = null;
  const results = await Promise.all(opened.map(connect));
  results.forEach((failure, i) => {
    if (failure) {
      failures += 1;
      firstFailure ??= failure;
      opened[i].closing = true;
    }
  });
  sessions = sessions.concat(opened.filter((session) => !session.closing));
  return { type: 'opened', opened: opened.length - failures, failures, firstFailure, ms: performance.now() - started };
}

async function closeAll() {
  const closing = sessions.map(
    (session) =>
      new Promise((resolve) => {
        session.closing = true;
        const { ws } = session;
        if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', resolve);
        ws.close(1000);
        setTimeout(() => ws.terminate(), 5_000).unref();
      }),
  );
  await Promise.all(closing);
  sessions = [];
  phases.clear();
  tallies.clear();
}

process.on('message', async (message) => {
  switch (message.type) {
    case 'open':
      process.send(await open(message));
      break;
    case 'count':
      process.send({
        type: 'count',
        phases: Object.fromEntries([...phases].map(([phase, { latencies }]) => [phase, latencies.length])),
        reconnected: tallyOf(message.group).reconnected,
        open: sessions.filter((session) => session.group === message.group && session.ws?.readyState === WebSocket.OPEN).length,
      });
      break;
    case 'report': {
      const entry = phases.get(message.phase) ?? { latencies: [], firstAt: 0, lastAt: 0 };
      process.send({
        type: 'report',
        phase: message.phase,
        latencies: Float64Array.from(entry.latencies),
        frames: entry.latencies.length,
        firstAt: entry.firstAt,
        lastAt: entry.lastAt,
      });
      break;
    }
    case 'check': {
      const lastSeq = {};
      const ofGroup = sessions.filter((session) => session.group === message.group);
      for (const session of ofGroup) (lastSeq[session.subject] ??= []).push(session.lastSeq);
      process.send({
        type: 'check',
        ...tallyOf(message.group),
        lastSeq,
        open: ofGroup.filter((session) => session.ws?.readyState === WebSocket.OPEN).length,
      });
      break;
    }
    case 'close':
      closingAll ??= closeAll().finally(() => (closingAll = null));
      await closingAll;
      process.send({ type: 'closed' });
      break;
    default:
      break;
  }
});

// The parent going away (for whatever reason) ends the clients; Ctrl+C reaches the whole
// process group, and the parent decides when this one stops.
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {
  for (const session of sessions) {
    session.closing = true;
    session.ws?.terminate();
  }
  process.exit(0);
});
process.send({ type: 'ready' });
