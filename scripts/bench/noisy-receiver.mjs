// The noisy-neighbour scenario's webhook receiver, run as a child process of
// scripts/bench/noisy-neighbour.mjs (fork, IPC). Arguments: <key> <size> <mode>.
//
// It listens on 127.0.0.1:
// - POST /healthy/<n>: answers 200 at once, and files the arrival of each id "<key>_<index>"
//   (index below <size>) with the attempt number Dispatch sends (dispatch-attempt): the first
//   arrival of an id is kept, a repeat counts as a duplicate, an id of no phase as a stray;
//   ids "<key>warm_<n>" (the warm-up) are only counted;
// - POST /noisy: mode "429" answers 429 with Retry-After: 1 at once; mode "timeout" never
//   answers, holding the request until the sender gives up (its webhook timeout) and closes it.
//
// Arrival times are epoch milliseconds with sub-millisecond resolution
// (performance.timeOrigin + performance.now()), comparable with the parent's send times.
//
// Messages from the parent:
//   { type: 'count' }   → { type: 'count', received, warm }
//   { type: 'report' }  → { type: 'report', times, attempts, received, duplicates, strays, noisy: { requests, tooMany, abandoned } }
// Messages to the parent:
//   { type: 'listening', url }  once, when the server is up
import { createServer } from 'node:http';
import { serveToParent } from './child-server.mjs';

const [key, sizeText, mode] = process.argv.slice(2);
const size = Number(sizeText);
const now = () => performance.timeOrigin + performance.now();

const times = new Float64Array(size).fill(Number.NaN);
const attempts = new Uint16Array(size);
let received = 0;
let duplicates = 0;
let strays = 0;
let warm = 0;
const noisy = { requests: 0, tooMany: 0, abandoned: 0 };

function healthyArrival(id, at, attempt) {
  if (typeof id === 'string' && id.startsWith(`${key}warm_`)) {
    warm += 1;
    return;
  }
  const cut = typeof id === 'string' ? id.lastIndexOf('_') : -1;
  const index = cut > 0 && id.slice(0, cut) === key ? Number(id.slice(cut + 1)) : Number.NaN;
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    strays += 1;
    return;
  }
  if (!Number.isNaN(times[index])) {
    duplicates += 1;
    return;
  }
  times[index] = at;
  attempts[index] = attempt;
  received += 1;
}

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const at = now();
    if (req.url === '/noisy') {
      noisy.requests += 1;
      if (mode === '429') {
        noisy.tooMany += 1;
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'text/plain' });
        res.end('slow down');
        return;
      }
      // Held: the sender's timeout ends it.
      res.on('close', () => {
        if (!res.writableFinished) noisy.abandoned += 1;
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    if (req.url?.startsWith('/healthy/')) healthyArrival(req.headers['webhook-id'], at, Number(req.headers['dispatch-attempt']));
    else strays += 1;
  });
});
server.keepAliveTimeout = 10_000;

process.on('message', (message) => {
  if (message.type === 'count') process.send({ type: 'count', received, warm });
  if (message.type === 'report') process.send({ type: 'report', times, attempts, received, duplicates, strays, noisy });
});

serveToParent(server);
