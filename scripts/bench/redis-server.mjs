// A Redis server of the benchmark's own: the machine's `redis-server` binary on a free loopback
// port, saving nothing (--save '' --appendonly no) in a temporary directory, in a process group
// of its own (so Ctrl+C reaches the benchmark, which stops it after the processes using it).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Starts a server; resolves to { name, url, port, child, exit, stop() } once it answers PING. */
export async function startRedisServer(name) {
  const dir = mkdtempSync(path.join(tmpdir(), 'dispatch-bench-redis-'));
  let lastError;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--protected-mode',
        'yes',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
        '--logfile',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    const output = [];
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => output.push(String(chunk)));
    const exit = once(child, 'exit');
    exit.catch(() => {}); // a binary that cannot start emits 'error' instead, handled below
    const spawnError = once(child, 'error').then(([error]) => error);
    const server = { name, port, url: `redis://127.0.0.1:${port}`, child, exit, output, stop: () => stopServer(server, dir) };
    const ready = await Promise.race([waitForPong(port, child), spawnError]);
    if (ready === true) return server;
    if (ready instanceof Error) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(ready.code === 'ENOENT' ? 'the benchmark starts its own Redis and needs the redis-server binary on the PATH' : `redis-server: ${ready.message}`);
    }
    lastError = output.join('').trim() || 'it exited';
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`could not start the ${name} Redis server: ${lastError}`);
}

async function stopServer(server, dir) {
  const { child } = server;
  try {
    if (child.exitCode === null && child.signalCode === null) {
      await command(server.port, 'FLUSHALL').catch(() => {}); // its keys go with it anyway: it saves nothing
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await server.exit;
      clearTimeout(kill);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** true once the server answers PING; false if the process exits first or 10 s pass. */
async function waitForPong(port, child) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const answer = await command(port, 'PING').catch(() => null);
    if (answer === '+PONG') return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** Sends one inline command and resolves to the first line of the answer. */
function command(port, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(`${text}\r\n`));
    socket.on('data', (chunk) => {
      answer += chunk;
      const end = answer.indexOf('\r\n');
      if (end >= 0) {
        socket.end();
        resolve(answer.slice(0, end));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed')));
  });
}

export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
