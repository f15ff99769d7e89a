// npm run bench -- --files: one 50 MB file delivered through each file destination kind.
//
// The scenario: Dispatch's API and worker, built, as real processes on a database, a queue
// prefix and a Redis server of their own, with a temporary DISPATCH_FILES_DIR and a temporary
// directory in DISPATCH_STORAGE_DIRECTORIES. It writes a file of --mb MiB (50 by default) of
// random bytes to disk, uploads it once with POST /v1/files (streamed from disk), then, one kind
// at a time, creates a destination pointing at a peer on loopback, sends one event
// `{ data: { fileId } }` to it and polls GET /v1/deliveries/:id until it is delivered. The peers:
// - email: an SMTP server (the smtp-server package) in this process, `attach: true`;
// - storage s3: s3rver, in this process; storage azure: Azurite, a process of its own;
//   storage filesystem: a temporary directory;
// - sftp: the SFTP server of libs/testing (the ssh2 package's), in this process;
// - download: the link in GET /v1/deliveries/:id (`download.url`), fetched by this process.
// Each peer's copy is then read back and checked: every byte, the right SHA-256.
//
// It prints, per kind, the time from the send to delivered, and the worker's RSS before the send
// and its peak until delivered (/proc/<pid>/status, every 100 ms); then the API's and the worker's
// peak RSS over the whole scenario (sampled, and the kernel's high-water mark, VmHWM). For
// context, the same file through two bare baselines in this process: a stream copy on disk, and
// one S3 PutObject (@aws-sdk/lib-storage, 8 MiB parts, two in flight, as the storage kind) to the
// same s3rver.
//
// Everything it sends goes to loopback: DATABASE_URL must name a loopback host. Every process,
// peer, temporary directory, the Redis server and the database it creates are removed at the end,
// on failure and on Ctrl+C.
//
// Usage: node scripts/bench.mjs --files [--mb N] [--no-build]
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { SMTPServer } from 'smtp-server';
import { Agent, request } from 'undici';
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
  step,
  withDatabase,
} from './harness.mjs';

const USAGE = 'Usage: node scripts/bench.mjs --files [--mb N] [--no-build]';
const KINDS = ['email', 'storage s3', 'storage azure', 'storage filesystem', 'sftp', 'download'];
/** The longest one delivery may take before the scenario gives up. */
const DELIVERY_TIMEOUT_MS = 180_000;
const BUCKET = 'bench-files';
const SFTP_USER = { username: 'dispatch', password: randomBytes(12).toString('hex') };

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      files: { type: 'boolean' },
      mb: { type: 'string', default: '50' },
      'no-build': { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  usageError(error.message);
}
const SIZE = positiveInteger(options.mb, '--mb', usageError) * 1024 * 1024;

const runId = randomBytes(4).toString('hex');
const prefix = `benchfl${runId}`;
const databaseName = `dispatch_bench_fl_${runId}`;
const databaseUrl = withDatabase(loopbackDatabaseUrl(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', usageError), databaseName);
const bootstrapKey = randomBytes(16).toString('hex');
const require = createRequire(import.meta.url);

await runBenchmark(main, printReport);

async function main() {
  console.log(`Dispatch files scenario: one ${mib(SIZE)} file through each file destination kind (${KINDS.join(', ')})`);
  if (!options['no-build']) buildAll();
  const { SftpTestServer, startS3rver, startAzurite, S3RVER_KEY, AZURITE_ACCOUNT } = require(path.join(root, 'libs', 'testing', 'dist', 'index.js'));

  const temp = await mkdtemp(path.join(os.tmpdir(), 'dispatch-bench-files-'));
  onCleanup('remove the temporary directory', () => rm(temp, { recursive: true, force: true }));
  const filesDir = path.join(temp, 'files');
  const storageRoot = path.join(temp, 'storage');
  await mkdir(storageRoot, { recursive: true });

  step(`Writing ${mib(SIZE)} of random bytes`);
  const source = path.join(temp, 'source.bin');
  const sha256 = await writeRandomFile(source, SIZE);
  console.log(`  ${source}, sha256 ${sha256}`);

  step('Peers on loopback');
  const s3 = await startS3rver([BUCKET]);
  onCleanup('stop s3rver', () => s3.close());
  const azurite = await startAzurite([BUCKET]);
  onCleanup('stop Azurite', () => azurite.close());
  const sftp = await SftpTestServer.start({ users: [SFTP_USER] });
  onCleanup('stop the SFTP server', () => sftp.close());
  const smtp = await startSmtpServer(temp);
  onCleanup('stop the SMTP server', () => smtp.close());
  console.log(`  s3rver ${s3.endpoint}, Azurite ${azurite.endpoint}, SFTP 127.0.0.1:${sftp.port}, SMTP 127.0.0.1:${smtp.port}`);

  step('Redis server of the scenario');
  const redisServer = await startOwnRedis('scenario');
  console.log(`  at ${redisServer.url} (pid ${redisServer.child.pid})`);

  step(`Database ${databaseName}, queue prefix ${prefix}`);
  await prepareDatabase(databaseUrl, databaseName);

  step('Starting the API and the worker');
  const { api, worker, base } = await startDispatch({
    databaseUrl,
    redisUrl: redisServer.url,
    bootstrapKey,
    prefix,
    env: { DISPATCH_FILES_DIR: filesDir, DISPATCH_STORAGE_DIRECTORIES: storageRoot },
  });
  console.log(`  ready at ${base} (pids ${api.child.pid}, ${worker.child.pid})`);

  // Resident memory of both, every 100 ms from now on; `window` is the peak since it was last reset.
  const peaks = { api: 0, worker: 0, window: 0 };
  const sampleOnce = () => {
    const apiRss = residentBytes(api.child.pid);
    const workerRss = residentBytes(worker.child.pid);
    peaks.api = Math.max(peaks.api, apiRss);
    peaks.worker = Math.max(peaks.worker, workerRss);
    peaks.window = Math.max(peaks.window, workerRss);
    return { api: apiRss, worker: workerRss };
  };
  const idle = sampleOnce();
  const sampler = setInterval(sampleOnce, 100);
  onCleanup('stop sampling memory', () => clearInterval(sampler));

  const agent = new Agent({ connections: 4 });
  onCleanup('close the HTTP client', () => agent.close());

  step(`Uploading the file (POST /v1/files, ${mib(SIZE)}, streamed from disk)`);
  const uploadStarted = performance.now();
  const upload = await request(`${base}/v1/files`, {
    method: 'POST',
    dispatcher: agent,
    headers: { authorization: `Bearer ${bootstrapKey}`, 'content-type': 'application/octet-stream', 'content-length': String(SIZE) },
    body: createReadStream(source),
  });
  const uploaded = JSON.parse(await upload.body.text());
  const uploadMs = performance.now() - uploadStarted;
  if (upload.statusCode !== 201) throw new Error(`POST /v1/files answered ${upload.statusCode}: ${JSON.stringify(uploaded).slice(0, 300)}`);
  if (uploaded.sha256 !== sha256 || uploaded.size !== SIZE)
    throw new Error(`POST /v1/files kept ${uploaded.size} bytes with sha256 ${uploaded.sha256}, not what was sent`);
  console.log(`  ${uploaded.id} in ${Math.round(uploadMs)} ms (${rate(SIZE / 1024 ** 2 / (uploadMs / 1000))} MiB/s); API peak RSS so far ${mib(peaks.api)}`);

  const s3Client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_KEY });
  onCleanup('close the S3 client', () => s3Client.destroy());
  const fileName = '{event.id}.bin';
  const filesystemDir = path.join(storageRoot, 'out');
  await mkdir(filesystemDir);
  const peers = {
    email: {
      config: { transport: 'smtp', host: '127.0.0.1', port: smtp.port, from: 'dispatch@example.com', to: ['files@example.com'], attach: true, fileName },
      read: (eventId) => smtp.attachment(`${eventId}.bin`),
    },
    'storage s3': {
      config: {
        provider: 's3',
        endpoint: s3.endpoint,
        region: 'us-east-1',
        bucket: BUCKET,
        accessKeyId: S3RVER_KEY.accessKeyId,
        secretAccessKey: S3RVER_KEY.secretAccessKey,
        forcePathStyle: true,
        fileName,
      },
      read: async (eventId) => (await s3Client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${eventId}.bin` }))).Body,
    },
    'storage azure': {
      config: {
        provider: 'azure',
        endpoint: azurite.endpoint,
        accountName: AZURITE_ACCOUNT.accountName,
        accountKey: AZURITE_ACCOUNT.accountKey,
        container: BUCKET,
        fileName,
      },
      read: async (eventId) => (await azurite.container(BUCKET).getBlobClient(`${eventId}.bin`).download()).readableStreamBody,
    },
    'storage filesystem': {
      config: { provider: 'filesystem', directory: filesystemDir, fileName },
      read: (eventId) => createReadStream(path.join(filesystemDir, `${eventId}.bin`)),
    },
    sftp: {
      config: {
        host: '127.0.0.1',
        port: sftp.port,
        username: SFTP_USER.username,
        password: SFTP_USER.password,
        hostKeySha256: sftp.hostKeySha256,
        directory: '/incoming',
        fileName,
      },
      read: (eventId) => createReadStream(sftp.local(`/incoming/${eventId}.bin`)),
    },
    download: {
      config: { fileName },
      read: async (_eventId, delivery) => {
        const answer = await request(delivery.download.url, { dispatcher: agent });
        if (answer.statusCode !== 200) throw new Error(`GET ${delivery.download.url} answered ${answer.statusCode}`);
        return answer.body;
      },
    },
  };

  const deliveries = [];
  for (const [index, name] of KINDS.entries()) {
    step(`${name}`);
    const { config, read } = peers[name];
    const [kind] = name.split(' ');
    const created = await callApi(agent, base, bootstrapKey, 'POST', '/v1/destinations', {
      name: `files ${name}`,
      kind,
      config,
      eventTypes: ['files.*'],
      rateLimit: null,
    });
    if (created.status !== 201) throw new Error(`POST /v1/destinations (${name}) answered ${created.status}: ${JSON.stringify(created.body).slice(0, 300)}`);
    await sleep(2_000); // the worker settles (its garbage collector, the queue of the new destination)
    const eventId = `evt_files_${runId}_${index}`;
    const before = sampleOnce().worker;
    peaks.window = before;
    const sentAt = performance.now();
    const sent = await callApi(agent, base, bootstrapKey, 'POST', '/v1/events', {
      id: eventId,
      type: 'files.ready',
      destinations: [created.body.id],
      data: { fileId: uploaded.id },
    });
    if (sent.status !== 202) throw new Error(`POST /v1/events (${name}) answered ${sent.status}: ${JSON.stringify(sent.body).slice(0, 300)}`);
    const delivery = await waitUntilDelivered(agent, base, sent.body.deliveries[0].id, name);
    const deliveredMs = performance.now() - sentAt;
    sampleOnce();
    const peak = peaks.window;
    const got = await hashOf(await read(eventId, delivery));
    if (got.size !== SIZE || got.sha256 !== sha256)
      throw new Error(`${name}: the peer got ${got.size} bytes with sha256 ${got.sha256}, not ${SIZE} bytes with ${sha256}`);
    console.log(
      `  delivered in ${Math.round(deliveredMs)} ms; worker RSS ${mib(before)} before, peak ${mib(peak)} (+${mib(peak - before)}); the peer got ${mib(got.size)}, sha256 matches`,
    );
    deliveries.push({ name, deliveredMs, before, peak });
  }

  step('Bare baselines (this process)');
  const copyStarted = performance.now();
  await pipeline(createReadStream(source), createWriteStream(path.join(temp, 'copy.bin')));
  const copyMs = performance.now() - copyStarted;
  console.log(`  stream copy on disk: ${Math.round(copyMs)} ms`);
  const putStarted = performance.now();
  await new Upload({
    client: s3Client,
    params: { Bucket: BUCKET, Key: `bare-${runId}.bin`, Body: createReadStream(source) },
    partSize: 8 * 1024 * 1024,
    queueSize: 2,
  }).done();
  const putMs = performance.now() - putStarted;
  console.log(`  S3 PutObject to s3rver (lib-storage): ${Math.round(putMs)} ms`);

  clearInterval(sampler);
  sampleOnce();
  checkProcesses();
  return {
    uploadMs,
    deliveries,
    idle,
    peaks: { api: peaks.api, worker: peaks.worker },
    highWater: { api: residentBytes(api.child.pid, 'VmHWM'), worker: residentBytes(worker.child.pid, 'VmHWM') },
    baselines: { copyMs, putMs },
  };
}

function printReport(r) {
  console.log(`\n== Files: one ${mib(SIZE)} file per kind ==`);
  console.log(`upload (POST /v1/files): ${Math.round(r.uploadMs)} ms (${rate(SIZE / 1024 ** 2 / (r.uploadMs / 1000))} MiB/s)`);
  for (const { name, deliveredMs, before, peak } of r.deliveries) {
    console.log(
      `${name.padEnd(19)} delivered in ${String(Math.round(deliveredMs)).padStart(6)} ms; worker RSS ${mib(before)} before, peak ${mib(peak)} (+${mib(peak - before)})`,
    );
  }
  console.log(`bare stream copy on disk: ${Math.round(r.baselines.copyMs)} ms; bare S3 PutObject to s3rver: ${Math.round(r.baselines.putMs)} ms`);
  console.log(`RSS when idle: API ${mib(r.idle.api)}, worker ${mib(r.idle.worker)}`);
  console.log(`peak RSS over the scenario: API ${mib(r.peaks.api)} (VmHWM ${mib(r.highWater.api)}), worker ${mib(r.peaks.worker)} (VmHWM ${mib(r.highWater.worker)})`);
}

// ---------------------------------------------------------------------------------------------

/** Writes `size` random bytes to `file`, 1 MiB at a time; answers their SHA-256 (hex). */
async function writeRandomFile(file, size) {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  for (let written = 0; written < size;) {
    const chunk = randomBytes(Math.min(1024 * 1024, size - written));
    hash.update(chunk);
    written += chunk.length;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

/** Reads `stream` to its end: its size and SHA-256 (hex). */
async function hashOf(stream) {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Polls GET /v1/deliveries/:id every 50 ms until it is delivered; fails on a retry, a dead letter or a timeout. */
async function waitUntilDelivered(agent, base, id, name) {
  const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
  for (;;) {
    checkProcesses();
    const answer = await callApi(agent, base, bootstrapKey, 'GET', `/v1/deliveries/${id}`);
    if (answer.status !== 200) throw new Error(`GET /v1/deliveries/${id} answered ${answer.status}`);
    const { status, lastError, attempts } = answer.body;
    if (status === 'delivered') return answer.body;
    if (status === 'failed' || status === 'retrying') {
      const last = attempts?.at(-1);
      throw new Error(`${name}: the delivery is ${status}: ${lastError ?? last?.error ?? ''} ${last?.responseBody ?? ''}`.trim());
    }
    if (performance.now() > deadline) throw new Error(`${name}: not delivered within ${DELIVERY_TIMEOUT_MS / 1000} s (${status})`);
    await sleep(50);
  }
}

/**
 * An SMTP server on loopback that keeps each message in a file of `directory`;
 * `attachment(name)` streams the decoded bytes of the attachment called `name`.
 */
async function startSmtpServer(directory) {
  const messages = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData: (stream, _session, callback) => {
      const file = path.join(directory, `mail-${messages.length}.eml`);
      messages.push(file);
      pipeline(stream, createWriteStream(file)).then(() => callback(null, 'queued'), callback);
    },
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.server.address().port,
    close: () => new Promise((resolve) => server.close(resolve)),
    attachment: async (name) => {
      for (const file of messages) {
        if ((await stat(file)).size === 0) continue;
        const mime = (await readText(file)).replace(/\r\n/g, '\n');
        const at = mime.search(new RegExp(`Content-Disposition: attachment;[^\\n]*(\\n[ \\t][^\\n]*)*filename="?${name.replace(/\./g, '\\.')}`, 'i'));
        if (at === -1) continue;
        const bodyStart = mime.indexOf('\n\n', at) + 2;
        const bodyEnd = mime.indexOf('\n--', bodyStart);
        return [Buffer.from(mime.slice(bodyStart, bodyEnd === -1 ? undefined : bodyEnd), 'base64')];
      }
      throw new Error(`the SMTP server got no attachment ${name}`);
    },
  };
}

async function readText(file) {
  const chunks = [];
  for await (const chunk of createReadStream(file)) chunks.push(chunk);
  return Buffer.concat(chunks).toString('latin1');
}

function mib(bytes) {
  return `${Math.round(bytes / 1024 ** 2)} MiB`;
}

function rate(value) {
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
}

function usageError(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}
