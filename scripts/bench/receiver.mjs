// The benchmark's webhook receiver, run as a child process of scripts/bench.mjs (fork, IPC).
//
// It listens on 127.0.0.1, answers every POST 200 at once, and files each arrival under the
// phase whose id prefix matches its webhook-id. Ids are "<phase key>_<index>": the key is every
// character before the last "_", the index a number below the phase's size. An arrival whose
// key names no phase is a stray; an arrival of an id already received is a duplicate of its own
// phase, whenever it comes, so a late or repeated delivery never counts for a later phase.
//
// Arrival times are epoch milliseconds with sub-millisecond resolution
// (performance.timeOrigin + performance.now()), comparable with the other processes' times.
//
// Messages from the parent:
//   { type: 'phase', key, size }   file ids "<key>_<0…size-1>" from now on → { type: 'phase', key }
//   { type: 'count', key }         → { type: 'count', key, received }
//   { type: 'report', key }        → { type: 'report', key, times, received, duplicates, unexpected, samples }
//   { type: 'tally' }              → { type: 'tally', phases: [{ key, size, received, duplicates, unexpected }], strays }
// Messages to the parent:
//   { type: 'listening', url }     once, when the server is up
//   { type: 'complete', key, lastAt }  when every id of a phase has arrived once
import { createServer } from 'node:http';
import { serveToParent } from './child-server.mjs';

const SAMPLE_EVERY = 50; // keeps the first 5 arrivals of a phase and every 50th, for the parent to verify their signatures

const now = () => performance.timeOrigin + performance.now();
const phases = new Map(); // key → { key, size, times: Float64Array (NaN until received), received, duplicates, unexpected, lastAt, samples }
let strays = 0;

function arrival(id, at, body, headers) {
  if (typeof id !== 'string') {
    strays += 1;
    return;
  }
  const cut = id.lastIndexOf('_');
  const phase = cut > 0 ? phases.get(id.slice(0, cut)) : undefined;
  if (!phase) {
    strays += 1;
    return;
  }
  const index = Number(id.slice(cut + 1));
  if (!Number.isInteger(index) || index < 0 || index >= phase.size) {
    phase.unexpected += 1;
    return;
  }
  if (!Number.isNaN(phase.times[index])) {
    phase.duplicates += 1;
    return;
  }
  phase.times[index] = at;
  phase.received += 1;
  if (at > phase.lastAt) phase.lastAt = at;
  if (phase.received <= 5 || phase.received % SAMPLE_EVERY === 0) {
    phase.samples.push({
      body: body.toString('utf8'),
      headers: { 'webhook-id': id, 'webhook-timestamp': headers['webhook-timestamp'], 'webhook-signature': headers['webhook-signature'] },
    });
  }
  if (phase.received === phase.size) process.send({ type: 'complete', key: phase.key, lastAt: phase.lastAt });
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const at = now();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    arrival(req.headers['webhook-id'], at, Buffer.concat(chunks), req.headers);
  });
});
server.keepAliveTimeout = 10_000;

process.on('message', (message) => {
  switch (message.type) {
    case 'phase': {
      const times = new Float64Array(message.size).fill(Number.NaN);
      phases.set(message.key, { key: message.key, size: message.size, times, received: 0, duplicates: 0, unexpected: 0, lastAt: 0, samples: [] });
      process.send({ type: 'phase', key: message.key });
      break;
    }
    case 'count':
      process.send({ type: 'count', key: message.key, received: phases.get(message.key)?.received ?? 0 });
      break;
    case 'report': {
      const phase = phases.get(message.key);
      const { key, times, received, duplicates, unexpected, lastAt, samples } = phase;
      process.send({ type: 'report', key, times, received, duplicates, unexpected, lastAt, samples });
      phase.samples = [];
      break;
    }
    case 'tally':
      process.send({
        type: 'tally',
        phases: [...phases.values()].map(({ key, size, received, duplicates, unexpected }) => ({ key, size, received, duplicates, unexpected })),
        strays,
      });
      break;
    default:
      break;
  }
});

serveToParent(server);
