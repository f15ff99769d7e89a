import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { EgressGuard } from '../egress';
import { S3Location, S3Objects } from './s3-objects';
import { S3RVER_KEY, startS3rver } from '@dispatch/testing';

const LOOPBACK = new EgressGuard(['127.0.0.0/8']);
const MiB = 1024 * 1024;

describe('the objects of an S3 bucket (against s3rver)', () => {
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let location: S3Location;
  const opened: S3Objects[] = [];
  const objects = (overrides: Partial<S3Location> = {}, egress = LOOPBACK) => {
    const sut = new S3Objects({ ...location, ...overrides }, { egress, partBytes: 5 * MiB });
    opened.push(sut);
    return sut;
  };

  beforeAll(async () => {
    s3 = await startS3rver(['files']);
    location = { endpoint: s3.endpoint, region: 'us-east-1', bucket: 'files', forcePathStyle: true, ...S3RVER_KEY };
  });

  afterAll(async () => {
    opened.forEach((sut) => sut.close());
    await s3.close();
  });

  it('puts a small object in one request, reads it whole and by range, sizes and deletes it', async () => {
    const sut = objects();
    const stored = await sut.put('reports/a.txt', Readable.from([Buffer.from('hello '), Buffer.from('world')]), { contentType: 'text/plain' });
    expect(stored.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await text(await sut.get('reports/a.txt'))).toBe('hello world');
    expect(await text(await sut.get('reports/a.txt', { start: 6, end: 10 }))).toBe('world');
    expect(await sut.head('reports/a.txt')).toBe(11);
    await sut.delete('reports/a.txt');
    expect(await sut.head('reports/a.txt')).toBeNull();
    await expect(sut.get('reports/a.txt')).rejects.toMatchObject({ code: 'NO_SUCH_KEY' });
    await sut.delete('reports/a.txt');
  });

  it('sends an object bigger than a part as a multipart upload, streamed', async () => {
    const sut = objects();
    const part = Buffer.alloc(MiB, 'x');
    const chunks = Array.from({ length: 12 }, (_, index) => Buffer.concat([part.subarray(0, MiB - 1), Buffer.from([index])]));
    const sent = jest.spyOn(sut.client, 'send');
    await sut.put('big.bin', Readable.from(chunks));
    // 12 MiB in 5 MiB parts.
    expect(sent.mock.calls.map(([command]) => command.constructor.name)).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    expect(await sut.head('big.bin')).toBe(12 * MiB);
    const tail = Buffer.from(await (await sut.get('big.bin', { start: 12 * MiB - 2, end: 12 * MiB - 1 })).toArray().then((parts) => Buffer.concat(parts)));
    expect([...tail]).toEqual([120, 11]);
  });

  it('fails as S3 answers for a missing bucket and an unknown access key, and checks the bucket without writing', async () => {
    await expect(objects({ bucket: 'missing' }).put('x', Readable.from(['x']))).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(objects({ accessKeyId: 'UNKNOWN' }).put('x', Readable.from(['x']))).rejects.toMatchObject({ name: 'InvalidAccessKeyId' });
    await expect(objects({ bucket: 'missing' }).checkBucket()).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    await expect(objects().checkBucket()).resolves.toBeUndefined();
  });

  it('connects only where the egress guard allows', async () => {
    await expect(objects({}, new EgressGuard([])).put('y', Readable.from(['y']))).rejects.toMatchObject({ code: 'EGRESS_NOT_ALLOWED' });
    await expect(objects({ endpoint: s3.endpoint.replace('127.0.0.1', 'localhost') }, new EgressGuard([])).head('y')).rejects.toMatchObject({
      code: 'EGRESS_NOT_ALLOWED',
    });
    expect(await objects({ endpoint: s3.endpoint.replace('127.0.0.1', 'localhost') }).head('y')).toBeNull();
  });
});
