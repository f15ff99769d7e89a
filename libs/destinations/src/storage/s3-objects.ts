import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { EgressGuard } from '../egress';

/** The smallest part S3 takes in a multipart upload (but the last). */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** The part size of a multipart upload unless told otherwise: smaller objects go in one PutObject. */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

/** Where objects go: an S3-compatible service (AWS, MinIO, R2, GCS's XML API), one bucket. */
export type S3Location = {
  /** `https://host[:port]` of an S3-compatible service; AWS's regional endpoint when absent. */
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, most self-hosted services). */
  forcePathStyle?: boolean;
};

export type S3ObjectsOptions = {
  /** Every connection goes through it (names resolved by its lookup, literal endpoints checked first). */
  egress: EgressGuard;
  /** Objects at least this big are sent in parts of this size (at least 5 MiB); smaller ones in one request. */
  partBytes?: number;
  /** Parts sent at once: memory held is about `partBytes` times this. */
  queueSize?: number;
  /** How long opening a connection may take. */
  connectTimeoutMs?: number;
};

/** What S3 answered for a stored object. */
export type StoredObject = { etag?: string; versionId?: string };

/** `get` of a key the bucket does not hold. */
export class S3ObjectMissingError extends Error {
  readonly code = 'NO_SUCH_KEY';

  constructor(key: string) {
    super(`the bucket has no object ${key}`);
    this.name = 'S3ObjectMissingError';
  }
}

/** The host an S3 location connects to: its endpoint's, or AWS's regional one. */
export function s3Host(location: Pick<S3Location, 'endpoint' | 'region'>): string {
  return location.endpoint ? new URL(location.endpoint).hostname : `s3.${location.region}.amazonaws.com`;
}

/**
 * The objects of one bucket, streamed in and out through the egress guard. One client (and
 * its keep-alive connections) per instance: keep one per destination or store, `close()` it
 * when done. S3's own errors come out as the SDK throws them (`name`: `NoSuchBucket`,
 * `AccessDenied`…, `$metadata.httpStatusCode`); `s3Failure` in ./verdict classifies them.
 */
export class S3Objects {
  readonly client: S3Client;
  private readonly partBytes: number;
  private readonly queueSize: number;

  constructor(
    readonly location: S3Location,
    private readonly options: S3ObjectsOptions,
  ) {
    this.partBytes = Math.max(MIN_PART_BYTES, options.partBytes ?? DEFAULT_PART_BYTES);
    this.queueSize = options.queueSize ?? 2;
    const agentOptions = { keepAlive: true, lookup: options.egress.lookup };
    this.client = new S3Client({
      region: location.region,
      endpoint: location.endpoint,
      forcePathStyle: location.forcePathStyle ?? false,
      credentials: { accessKeyId: location.accessKeyId, secretAccessKey: location.secretAccessKey },
      // Dispatch retries deliveries itself, by the destination's policy.
      maxAttempts: 1,
      // Checksums only where S3 requires them: many S3-compatible services do not read the trailing ones.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent: new http.Agent(agentOptions),
        httpsAgent: new https.Agent(agentOptions),
        connectionTimeout: options.connectTimeoutMs ?? 10_000,
      },
    });
  }

  /**
   * Writes `body` as object `key`, streamed: in one PutObject when it is smaller than a part,
   * else as a multipart upload (a failed one is aborted, leaving no parts behind). Resolves
   * once S3 has the whole object.
   */
  async put(key: string, body: Readable, options: { contentType?: string; signal?: AbortSignal } = {}): Promise<StoredObject> {
    this.checkEgress();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: key, Body: body, ContentType: options.contentType },
      partSize: this.partBytes,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort().catch(() => undefined);
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      if (options.signal?.aborted) throw options.signal.reason;
      const stored = await upload.done();
      return { etag: stored.ETag, versionId: stored.VersionId };
    } catch (error) {
      body.destroy();
      throw options.signal?.aborted ? options.signal.reason : error;
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
  }

  /** Object `key`'s bytes, streamed (`range`: first and last byte, inclusive); `S3ObjectMissingError` when there is none. */
  async get(key: string, range?: { start: number; end: number }, signal?: AbortSignal): Promise<Readable> {
    this.checkEgress();
    try {
      const answer = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
        { abortSignal: signal },
      );
      return answer.Body as Readable;
    } catch (error) {
      if (isMissing(error)) throw new S3ObjectMissingError(key);
      throw error;
    }
  }

  /** Object `key`'s size in bytes, or null when there is none. */
  async head(key: string, signal?: AbortSignal): Promise<number | null> {
    this.checkEgress();
    try {
      const answer = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: key }), { abortSignal: signal });
      return answer.ContentLength ?? 0;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  /** Removes object `key`; nothing happens when there is none. */
  async delete(key: string, signal?: AbortSignal): Promise<void> {
    this.checkEgress();
    await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: key }), { abortSignal: signal });
  }

  /** Checks that the bucket exists and the credentials may use it (HeadBucket); writes nothing. */
  async checkBucket(signal?: AbortSignal): Promise<void> {
    this.checkEgress();
    await this.client.send(new HeadBucketCommand({ Bucket: this.location.bucket }), { abortSignal: signal });
  }

  close(): void {
    this.client.destroy();
  }

  /** Node's agents skip `lookup` for literal addresses: those are checked here. */
  private checkEgress(): void {
    const refusal = this.options.egress.hostRefusal(s3Host(this.location));
    if (refusal) throw refusal;
  }
}

/** S3's answer for a key it does not hold (HeadObject answers without a body: `NotFound`). */
function isMissing(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.name === 'NotFound');
}
