import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { S3RVER_KEY, startS3rver } from '@dispatch/testing';
import { S3Objects } from '../storage/s3-objects';
import { EgressGuard } from '../egress';
import { S3FileStore } from './s3-file-store';

describe('the S3 file store (against s3rver)', () => {
  let s3: Awaited<ReturnType<typeof startS3rver>>;
  let sut: S3FileStore;
  let bucket: S3Objects;

  beforeAll(async () => {
    s3 = await startS3rver(['dispatch-files']);
    const location = { endpoint: s3.endpoint, region: 'us-east-1', bucket: 'dispatch-files', forcePathStyle: true, ...S3RVER_KEY };
    sut = new S3FileStore(location, 'files/');
    bucket = new S3Objects(location, { egress: new EgressGuard(['127.0.0.0/8']) });
  });

  afterAll(async () => {
    sut.close();
    bucket.close();
    await s3.close();
  });

  it('streams a file in and out (ranges too) as an object under its prefix, with its size and SHA-256, and removes it', async () => {
    const stored = await sut.put('fil_x1', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(stored).toEqual({ size: 11, sha256: 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9' });
    expect(await bucket.head('files/fil_x1')).toBe(11);
    expect(await text(await sut.open('fil_x1', { start: 6, end: 10 }))).toBe('world');
    expect(await text(await sut.open('fil_x1'))).toBe('hello world');
    expect(await sut.size('fil_x1')).toBe(11);
    await sut.remove('fil_x1');
    expect(await sut.size('fil_x1')).toBeNull();
    await expect(sut.open('fil_x1')).rejects.toMatchObject({ code: 'FILE_MISSING' });
  });

  it('leaves no object when the upload fails midway, and takes only file ids as keys', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.from('partial'));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(sut.put('fil_broken', failing)).rejects.toThrow('client went away');
    expect(await bucket.head('files/fil_broken')).toBeNull();
    await expect(sut.put('../escape', Readable.from(['x']))).rejects.toMatchObject({ code: 'FILE_MISSING' });
  });
});
