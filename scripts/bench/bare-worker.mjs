// The bare baseline's worker, run as a child process of scripts/bench.mjs (fork, IPC): a BullMQ
// Worker, with no API and no database, whose processor signs each job's body with a Standard
// Webhooks signature (HMAC-SHA256) and POSTs it to the receiver with undici. It runs as many
// jobs (so requests to the receiver) at once as one Dispatch worker makes attempts to one destination
// (DISPATCH_WORKER_CONCURRENCY).
// Its queue's jobs are added by the parent, so this process's event loop runs the worker alone.
//
// Configuration (JSON in the environment variable BENCH_BARE): { redisUrl, queueName, prefix,
// receiverUrl, secret, concurrency }.
// Messages to the parent: { type: 'ready' } once the worker is connected; { type: 'error',
// message } when a job fails or the worker reports an error. Message from the parent:
// { type: 'stop' } closes the worker and exits.
import { createHmac } from 'node:crypto';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';

const { redisUrl, queueName, prefix, receiverUrl, secret, concurrency } = JSON.parse(process.env.BENCH_BARE);
const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
const url = `${receiverUrl}/hook`;

const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });
const worker = new Worker(
  queueName,
  async (job) => {
    const { id, type, timestamp, data } = job.data;
    const body = JSON.stringify({ id, type, timestamp, data });
    const seconds = Math.floor(Date.now() / 1000);
    const signature = `v1,${createHmac('sha256', key).update(`${id}.${seconds}.${body}`).digest('base64')}`;
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(seconds), 'webhook-signature': signature },
      body,
    });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode > 299) throw new Error(`receiver answered ${response.statusCode}`);
  },
  { connection, prefix, concurrency },
);

let reported = false;
function report(message) {
  if (reported || !process.connected) return;
  reported = true;
  process.send({ type: 'error', message });
}
worker.on('failed', (job, error) => report(`bare job ${job?.id} failed: ${error.message}`));
worker.on('error', (error) => report(`bare worker: ${error.message}`));

let stopping = null;
function stop(code) {
  stopping ??= (async () => {
    await worker.close().catch(() => {});
    await agent.close().catch(() => {});
    connection.disconnect();
    process.exit(code);
  })();
}

process.on('message', (message) => {
  if (message.type === 'stop') stop(0);
});
process.on('disconnect', () => stop(0)); // the parent went away
process.on('SIGINT', () => {}); // Ctrl+C reaches the whole process group: the parent decides when this one stops
process.on('SIGTERM', () => stop(0));

await worker.waitUntilReady();
process.send({ type: 'ready' });
