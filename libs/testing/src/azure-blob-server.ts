import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = {
  accountName: 'devstoreaccount1',
  accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
};

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A local Azure Blob service (Azurite's blob service, its own process) on a free loopback port,
 * keeping its data in a temporary directory, with `containers`. `container(name)` reads them.
 */
export async function startAzurite(
  containers: readonly string[],
): Promise<{ endpoint: string; port: number; container(name: string): ContainerClient; close(): Promise<void> }> {
  const location = await mkdtemp(path.join(os.tmpdir(), 'dispatch-azurite-'));
  const port = await freePort();
  const binary = path.join(__dirname, '..', '..', '..', 'node_modules', '.bin', 'azurite-blob');
  const child: ChildProcess = spawn(
    binary,
    ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location, '--silent', '--disableTelemetry', '--skipApiVersionCheck'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT.accountName}`;
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT.accountName, AZURITE_ACCOUNT.accountKey);
  const container = (name: string) => new ContainerClient(`${endpoint}/${name}`, credential);
  const close = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(location, { recursive: true, force: true });
  };
  const until = Date.now() + 20_000;
  while (!/successfully listen/.test(output)) {
    if (child.exitCode !== null || Date.now() > until) {
      await close();
      throw new Error(`Azurite did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const name of containers) await container(name).create();
  return { endpoint, port, container, close };
}
