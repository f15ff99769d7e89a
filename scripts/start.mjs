// npm start: builds what changed, migrates the database, then runs the API (which serves the
// admin app) and the worker, whose start-up lines say where everything is; then the admin key.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from './migrate.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const env = { ...process.env };
env.PORT ??= '3000';
env.DATABASE_URL ??= 'postgresql://postgres@127.0.0.1:5432/dispatch';
env.REDIS_URL ??= 'redis://127.0.0.1:6379';

function bootstrapKey() {
  if (env.DISPATCH_BOOTSTRAP_KEY) return env.DISPATCH_BOOTSTRAP_KEY;
  const file = path.join(root, '.dispatch', 'bootstrap-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true });
  const key = `dsp_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
env.DISPATCH_BOOTSTRAP_KEY = bootstrapKey();

/** DISPATCH_ENCRYPTION_KEY, else the one kept in .dispatch/, else a new one kept there: the key of the secrets in the database. */
function encryptionKey() {
  if (env.DISPATCH_ENCRYPTION_KEY) return env.DISPATCH_ENCRYPTION_KEY;
  const file = path.join(root, '.dispatch', 'encryption-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true });
  const key = randomBytes(32).toString('base64');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
/** The file of the encryption key, when it is kept in .dispatch/ rather than given. */
const encryptionKeyFile = env.DISPATCH_ENCRYPTION_KEY ? undefined : path.relative(root, path.join(root, '.dispatch', 'encryption-key'));
env.DISPATCH_ENCRYPTION_KEY = encryptionKey();

if (!process.argv.includes('--no-build')) {
  const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], { cwd: root, stdio: 'inherit', env });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

try {
  const applied = await migrate(env.DATABASE_URL, env);
  console.log(applied.length ? `Migrations applied: ${applied.join(', ')}` : 'Database is up to date.');
} catch (error) {
  console.error(`Cannot prepare the database at ${env.DATABASE_URL.replace(/\/\/[^@]*@/, '//…@')}: ${error.message}`);
  process.exit(1);
}

/** A process that exits unexpectedly is started again after 1 s, then 2, 4… up to 30 s; back to 1 s once one stayed up a minute. */
const RESTART_FIRST_MS = 1_000;
const RESTART_MAX_MS = 30_000;
const STEADY_MS = 60_000;

const children = new Map();
const restarts = new Set();
let stopping = false;

function run(name, script) {
  let delay = RESTART_FIRST_MS;
  const launch = () => {
    const startedAt = Date.now();
    const child = spawn(process.execPath, [path.join(root, script)], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    console.log(`[${name}] started (pid ${child.pid})`);
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop();
        for (const line of lines) process.stdout.write(`[${name}] ${line}\n`);
      });
    }
    child.on('exit', (code, signal) => {
      if (stopping) return;
      if (Date.now() - startedAt >= STEADY_MS) delay = RESTART_FIRST_MS;
      console.error(`[${name}] exited unexpectedly (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s`);
      const timer = setTimeout(() => {
        restarts.delete(timer);
        if (!stopping) launch();
      }, delay);
      restarts.add(timer);
      delay = Math.min(delay * 2, RESTART_MAX_MS);
    });
    children.set(name, child);
  };
  launch();
}

function stop() {
  if (stopping) return;
  stopping = true;
  for (const timer of restarts) clearTimeout(timer);
  const running = [...children.values()].filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of running) child.kill('SIGTERM');
  Promise.all(running.map((child) => new Promise((resolve) => child.on('exit', resolve)))).then(() => process.exit(0));
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);

run('api', 'apps/api/dist/main.js');
run('worker', 'apps/worker/dist/main.js');

const base = `http://127.0.0.1:${env.PORT}`;
for (let tries = 0; tries < 120 && !stopping; tries += 1) {
  const ready = await fetch(`${base}/health/ready`).then(
    (r) => r.ok,
    () => false,
  );
  if (ready) {
    // The API's own start-up lines above say where everything is; this says what only npm start knows.
    const keyFile = encryptionKeyFile ? `\n  Encryption key  ${encryptionKeyFile} (back it up: without it the secrets in the database cannot be read)` : '';
    console.log(`
Dispatch is running: open ${(env.DISPATCH_PUBLIC_URL || `http://localhost:${env.PORT}`).replace(/\/+$/, '')}/ and sign in with the admin key.
  Admin key       ${env.DISPATCH_BOOTSTRAP_KEY}${keyFile}
Press Ctrl+C to stop.`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
}
