// The bare baseline of the websocket benchmark (scripts/bench/websocket.mjs): a `ws` server and
// Redis PUBLISH, nothing of Dispatch. Run as a child process of the benchmark (fork, IPC); the
// benchmark starts two, like Dispatch's two API processes.
//
// A client opens /stream?subject=<s>; the server keeps its sessions by subject and subscribes
// (one subscriber connection, SUBSCRIBE per subject while it has a session) to the channel
// "<channel prefix><subject>". Every message published there is written as it is, a text frame,
// to each session of the subject: no token, no seq given, no order kept, no replay, no
// presence, no backpressure. It tells the parent its URL once it listens on loopback, and its
// memory when asked.
//
// argv: <redis url> <channel prefix>
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { WebSocketServer } from 'ws';
import { serveToParent } from './child-server.mjs';

const [redisUrl, channelPrefix] = process.argv.slice(2);
const subscriber = new Redis(redisUrl);
const bySubject = new Map(); // subject → Set of sockets

subscriber.on('message', (channel, message) => {
  const sockets = bySubject.get(channel.slice(channelPrefix.length));
  if (sockets) for (const ws of sockets) ws.send(message);
});

const server = createServer((req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://localhost');
  const subject = url.searchParams.get('subject');
  if (url.pathname !== '/stream' || !subject) {
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let sockets = bySubject.get(subject);
    if (!sockets) {
      sockets = new Set();
      bySubject.set(subject, sockets);
      subscriber.subscribe(`${channelPrefix}${subject}`).catch(() => ws.close(1011));
    }
    sockets.add(ws);
    ws.on('close', () => {
      sockets.delete(ws);
      if (sockets.size === 0 && bySubject.get(subject) === sockets) {
        bySubject.delete(subject);
        subscriber.unsubscribe(`${channelPrefix}${subject}`).catch(() => {});
      }
    });
  });
});

// { type: 'memory' } → { type: 'memory', rss, heapUsed }: read like the API's /metrics (process.memoryUsage()).
process.on('message', (message) => {
  if (message.type === 'memory') process.send({ type: 'memory', ...process.memoryUsage() });
});
process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  subscriber.disconnect();
});
serveToParent(server);
