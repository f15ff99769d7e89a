import { randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { EgressGuard } from '../egress';
import type { ContractPeer, KindContract } from '../kind.contract';
import { S3Objects } from './s3-objects';
import { S3RVER_KEY, startS3rver } from '@dispatch/testing';

const BUCKET = 'contract';

/** A local S3 (s3rver) with one bucket, which finds an event by its file (`<prefix><event id>.json`, the default name). */
export type S3Peer = ContractPeer & { endpoint: string; prefix: string; objects: S3Objects };

export async function startS3Peer(): Promise<S3Peer> {
  const s3 = await startS3rver([BUCKET]);
  const prefix = `contract-${randomBytes(6).toString('hex')}/`;
  const objects = new S3Objects(
    { endpoint: s3.endpoint, region: 'us-east-1', bucket: BUCKET, forcePathStyle: true, ...S3RVER_KEY },
    { egress: new EgressGuard(['127.0.0.0/8']) },
  );
  const holds = async (eventId: string) => {
    if ((await objects.head(`${prefix}${eventId}.json`)) === null) return false;
    return (await text(await objects.get(`${prefix}${eventId}.json`))).includes(eventId);
  };
  return {
    endpoint: s3.endpoint,
    prefix,
    objects,
    address: { host: '127.0.0.1', port: s3.port },
    waitForEvent: async (eventId, timeoutMs) => {
      const until = Date.now() + timeoutMs;
      while (!(await holds(eventId))) {
        if (Date.now() >= until) throw new Error(`the bucket has no file for ${eventId} after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: async () => {
      objects.close();
      await s3.close();
    },
  };
}

const s3Config = (endpoint: string, prefix: string) => ({ provider: 's3', endpoint, region: 'us-east-1', bucket: BUCKET, prefix, forcePathStyle: true, ...S3RVER_KEY });

/** The storage kind's part of the kind contract: an S3 bucket (s3rver) on loopback. */
export const contract: KindContract = {
  startPeer: () => startS3Peer(),
  validConfig: (peer) => s3Config((peer as S3Peer).endpoint, (peer as S3Peer).prefix),
  invalidConfig: {
    config: { provider: 's3', endpoint: 'ftp://127.0.0.1', region: 'Europe West', bucket: 'No_Such_Name', accessKeyId: 'k', secretAccessKey: 's', prefix: '../up/' },
    paths: ['endpoint', 'region', 'bucket', 'prefix'],
  },
  blockedConfig: { config: s3Config('http://169.254.169.254:9000', ''), paths: ['endpoint'] },
  unreachableConfig: (closedPort) => s3Config(`http://127.0.0.1:${closedPort}`, ''),
  credentials: (peer) => {
    // s3rver knows one access key and does not check SigV4 signatures: any secret key goes through.
    const secretAccessKey = randomBytes(24).toString('base64');
    return { config: { ...contract.validConfig(peer), secretAccessKey }, secrets: [secretAccessKey] };
  },
};
