import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The access key s3rver knows (its only account). */
export const S3RVER_KEY = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

type S3rverServer = { run(): Promise<AddressInfo>; close(): Promise<void> };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverServer;

/** A local S3 (s3rver) on a free loopback port, keeping its objects in a temporary directory, with `buckets`. */
export async function startS3rver(buckets: readonly string[]): Promise<{ endpoint: string; port: number; directory: string; close(): Promise<void> }> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'dispatch-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', directory, silent: true, configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    close: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
