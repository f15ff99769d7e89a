import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { ContainerClient, newPipeline, RequestPolicy, RequestPolicyFactory, StorageSharedKeyCredential, WebResource } from '@azure/storage-blob';
import type { EgressGuard } from '../egress';
import type { StoredObject } from './s3-objects';

/** Blocks an Azure upload is sent in, and how many at once (memory held: about their product). */
const BLOCK_BYTES = 4 * 1024 * 1024;
const BLOCKS_AT_ONCE = 2;

/** Where blobs go: one container of one storage account, signed with the account's shared key. */
export type AzureLocation = { endpoint?: string; accountName: string; accountKey: string; container: string };

/** The Blob service URL of an account: its endpoint, or Azure's public one. */
export function azureServiceUrl(location: Pick<AzureLocation, 'endpoint' | 'accountName'>): string {
  return (location.endpoint ?? `https://${location.accountName}.blob.core.windows.net`).replace(/\/+$/, '');
}

/**
 * The blobs of one Azure container, streamed in, every request through the egress guard: its
 * agents resolve names with the guard's lookup (a request policy hands them to the HTTP
 * client), and a literal address is checked before each request. Azure's errors come out as
 * the SDK throws them (`RestError`: `statusCode`, `code`).
 */
export class AzureBlobs {
  private readonly container: ContainerClient;
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(
    readonly location: AzureLocation,
    private readonly egress: EgressGuard,
  ) {
    const agentOptions = { keepAlive: true, lookup: egress.lookup };
    this.agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
    // Dispatch retries deliveries itself, by the destination's policy.
    const pipeline = newPipeline(new StorageSharedKeyCredential(location.accountName, location.accountKey), { retryOptions: { maxTries: 1 } });
    pipeline.factories.push(this.guardedAgents());
    this.container = new ContainerClient(`${azureServiceUrl(location)}/${location.container}`, pipeline);
  }

  /** Writes `body` as blob `name` (a block blob, sent in blocks), streamed; resolves once Azure has committed it. */
  async put(name: string, body: Readable, options: { contentType?: string; signal?: AbortSignal } = {}): Promise<StoredObject> {
    this.checkEgress();
    try {
      const stored = await this.container
        .getBlockBlobClient(name)
        .uploadStream(body, BLOCK_BYTES, BLOCKS_AT_ONCE, { blobHTTPHeaders: { blobContentType: options.contentType }, abortSignal: options.signal });
      return { etag: stored.etag, versionId: stored.versionId };
    } catch (error) {
      body.destroy();
      throw options.signal?.aborted ? options.signal.reason : error;
    }
  }

  /** Checks that the container exists and the key may read it; writes nothing. */
  async checkContainer(signal?: AbortSignal): Promise<void> {
    this.checkEgress();
    await this.container.getProperties({ abortSignal: signal });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private checkEgress(): void {
    const refusal = this.egress.hostRefusal(new URL(azureServiceUrl(this.location)).hostname);
    if (refusal) throw refusal;
  }

  /** A request policy that sends every request with the guarded agents. */
  private guardedAgents(): RequestPolicyFactory {
    const agents = this.agents;
    return {
      create: (next: RequestPolicy): RequestPolicy => ({
        sendRequest: (request: WebResource) => {
          request.agent = request.url.startsWith('https:') ? agents.https : agents.http;
          return next.sendRequest(request);
        },
      }),
    };
  }
}
