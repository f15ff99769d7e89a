import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import IORedis from 'ioredis';

const run = promisify(execFile);

/**
 * A Redis Cluster of the test's own on loopback: `masters` `redis-server --cluster-enabled yes`
 * processes (no persistence, no replicas) joined by `redis-cli --cluster create`. `stop` kills
 * them and removes their directory.
 */
export class OwnRedisCluster {
  private constructor(
    readonly ports: readonly number[],
    private readonly directory: string,
    private readonly processes: ChildProcess[],
  ) {}

  static async start(masters = 3): Promise<OwnRedisCluster> {
    const directory = await mkdtemp(join(tmpdir(), 'dispatch-cluster-'));
    const ports: number[] = [];
    for (let index = 0; index < masters; index += 1) ports.push(await freeLoopbackPort(ports));
    const processes = ports.map((port) =>
      spawn(
        'redis-server',
        [
          ...['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(directory, `nodes-${port}.conf`)],
          ...['--save', '', '--appendonly', 'no', '--dir', directory],
        ],
        { stdio: 'ignore' },
      ),
    );
    const cluster = new OwnRedisCluster(ports, directory, processes);
    try {
      await Promise.all(ports.map((port) => cluster.waitForNode(port)));
      await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes']);
      await Promise.all(ports.map((port) => cluster.waitForState(port)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get nodes(): { host: string; port: number }[] {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  /** `DISPATCH_REDIS_CLUSTER_NODES` for this cluster. */
  get nodesSetting(): string {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',');
  }

  /** A plain connection to one node (its own keys only). */
  node(port: number): IORedis {
    return new IORedis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  }

  /** Runs one command on every master; e.g. FLUSHALL, as if the whole cluster lost its data. */
  async onEveryNode(command: string, ...args: string[]): Promise<void> {
    await Promise.all(
      this.ports.map(async (port) => {
        const node = this.node(port);
        try {
          await node.call(command, ...args);
        } finally {
          node.disconnect();
        }
      }),
    );
  }

  /** Kills every node and removes their files. */
  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => child.on('exit', resolve));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    await rm(this.directory, { recursive: true, force: true });
  }

  private async waitForNode(port: number): Promise<void> {
    await this.poll(port, async (node) => (await node.ping()) === 'PONG', 'did not start');
  }

  private async waitForState(port: number): Promise<void> {
    await this.poll(port, async (node) => String(await node.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 'did not reach cluster_state:ok');
  }

  private async poll(port: number, ready: (node: IORedis) => Promise<boolean>, failure: string): Promise<void> {
    for (let tries = 0; tries < 200; tries += 1) {
      const node = new IORedis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await node.connect();
        if (await ready(node)) return;
      } catch {
        // not yet
      } finally {
        node.disconnect();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Redis Cluster node on port ${port} ${failure}`);
  }
}

/** A loopback port nothing listens on, not among `taken`, whose cluster bus port (+10000) is free too. */
async function freeLoopbackPort(taken: readonly number[]): Promise<number> {
  for (;;) {
    const port = await listenOnce(0);
    if (port + 10_000 > 65_535 || taken.includes(port)) continue;
    if ((await listenOnce(port + 10_000).catch(() => 0)) !== 0) return port;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}
