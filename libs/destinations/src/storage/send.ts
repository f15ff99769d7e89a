import type { Readable } from 'node:stream';
import type { SendResult } from '@dispatch/domain';
import { attemptDeadline, untilDeadline } from '../attempt-deadline';
import { deliveredFile, FileMissingError, UndeliverableFileError } from '../files';
import type { SendRequest, Sender, SenderDeps } from '../kind';
import { DestinationConnections, renderTemplate } from '../messages';
import { AzureBlobs } from './azure-blobs';
import { AzureStorageConfig, objectKeyProblem, S3StorageConfig, StorageConfig } from './config';
import { FilesystemDirectory } from './filesystem-directory';
import { S3Objects } from './s3-objects';
import { ObjectKeyError, storageFailure } from './verdict';

/** How the storage kind sends: `partBytes`, the part size of S3 multipart uploads (objects smaller than it go in one request). */
export type StorageSettings = { partBytes?: number };

/** Where a delivered file went, as the attempt's reply records it. */
export type StoredFile = { provider: StorageConfig['provider']; key: string; bucket?: string; container?: string; etag?: string; versionId?: string };

/** The object key of a delivered file: the config's prefix filled from the event, then the file name. */
export function objectKeyFor(request: Pick<SendRequest<StorageConfig>, 'config' | 'organizationId' | 'event'>, fileName: string): string {
  const key = renderTemplate(request.config.prefix, request) + fileName;
  const problem = objectKeyProblem(key);
  if (problem) throw new ObjectKeyError(`object key "${key.slice(0, 200)}" ${problem}`);
  return key;
}

const s3Location = (config: S3StorageConfig) => ({
  endpoint: config.endpoint,
  region: config.region,
  bucket: config.bucket,
  accessKeyId: config.accessKeyId,
  secretAccessKey: config.secretAccessKey,
  forcePathStyle: config.forcePathStyle,
});
const azureLocation = (config: AzureStorageConfig) => ({
  endpoint: config.endpoint,
  accountName: config.accountName,
  accountKey: config.accountKey,
  container: config.container,
});

/**
 * Writes each delivered file as one object: to an S3 bucket, an Azure container or a local
 * directory, at the config's prefix and file name, streamed from where the file is. Delivered
 * once the service has the whole object (the upload completed, the file renamed into place).
 * One S3 or Azure client per destination, kept until its queue goes idle or its config changes.
 */
export class StorageSender implements Sender<StorageConfig> {
  private readonly clients = new DestinationConnections<S3Objects | AzureBlobs>(async (client) => client.close());

  constructor(
    private readonly deps: SenderDeps,
    private readonly settings: StorageSettings = {},
  ) {}

  async send(request: SendRequest<StorageConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const took = () => Math.round(performance.now() - started);
    try {
      const file = await deliveredFile(request, this.deps.files);
      const key = objectKeyFor(request, file.name);
      const content = await file.open().catch((error: unknown) => {
        throw error instanceof FileMissingError ? new UndeliverableFileError(error.message) : error;
      });
      const stored = await untilDeadline(this.write(request, key, content, file.contentType, deadline.signal), deadline.signal);
      return { verdict: 'delivered', durationMs: took(), reply: JSON.stringify(stored).slice(0, this.deps.replyMaxBytes) };
    } catch (error) {
      return { ...storageFailure(error, request.config.provider), durationMs: took() };
    } finally {
      deadline.end();
    }
  }

  /**
   * Checks, writing nothing, that files could be written: the bucket exists and the keys may
   * use it (HeadBucket), the container exists (its properties), the directory exists and can
   * be written to; and that the prefix makes a valid key when it does not depend on the event's data.
   */
  async test(request: SendRequest<StorageConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const took = () => Math.round(performance.now() - started);
    const { config } = request;
    let client: S3Objects | AzureBlobs | undefined;
    try {
      if (!config.prefix.includes('{data.')) objectKeyFor(request, 'file');
      if (config.provider === 's3') {
        const objects = (client = new S3Objects(s3Location(config), { egress: this.deps.egress }));
        await untilDeadline(objects.checkBucket(deadline.signal), deadline.signal);
      } else if (config.provider === 'azure') {
        const blobs = (client = new AzureBlobs(azureLocation(config), this.deps.egress));
        await untilDeadline(blobs.checkContainer(deadline.signal), deadline.signal);
      } else {
        await untilDeadline(new FilesystemDirectory(config.directory).check(), deadline.signal);
      }
      return { verdict: 'delivered', durationMs: took() };
    } catch (error) {
      return { ...storageFailure(error, config.provider), durationMs: took() };
    } finally {
      deadline.end();
      client?.close();
    }
  }

  async release(destinationId: string): Promise<void> {
    await this.clients.release(destinationId);
  }

  async close(): Promise<void> {
    await this.clients.close();
  }

  private async write(request: SendRequest<StorageConfig>, key: string, content: Readable, contentType: string, signal: AbortSignal): Promise<StoredFile> {
    const { config, destinationId } = request;
    if (config.provider === 'filesystem') {
      await new FilesystemDirectory(config.directory).put(key, content, signal);
      return { provider: 'filesystem', key };
    }
    if (config.provider === 's3') {
      const location = s3Location(config);
      const objects = (await this.clients.get(destinationId, location, async () => new S3Objects(location, { egress: this.deps.egress, ...this.settings }))) as S3Objects;
      const stored = await objects.put(key, content, { contentType, signal });
      return { provider: 's3', bucket: config.bucket, key, ...stored };
    }
    const location = azureLocation(config);
    const blobs = (await this.clients.get(destinationId, location, async () => new AzureBlobs(location, this.deps.egress))) as AzureBlobs;
    const stored = await blobs.put(key, content, { contentType, signal });
    return { provider: 'azure', container: config.container, key, ...stored };
  }
}
