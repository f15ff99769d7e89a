import type { z } from 'zod';
import type { RetryPolicy, SendResult } from '@dispatch/domain';
import type { EgressGuard } from './egress';
import type { FileStore } from './files/file-store';

export type { SendResult, SendVerdict } from '@dispatch/domain';

/** What every sender may use, whatever its kind. */
export type SenderDeps = {
  /** The longest one attempt may take. */
  timeoutMs: number;
  /** How much of a peer's reply is read and kept with the attempt. */
  replyMaxBytes: number;
  /** Every connection a sender opens goes through it: it refuses addresses destinations may not reach. */
  egress: EgressGuard;
  /** The files producers uploaded (`POST /v1/files`), which file kinds deliver (`data.fileId`). */
  files: FileStore;
  /** Records the links `download` destinations hand out; absent where no link can be made (a unit test). */
  downloads?: DownloadLinks;
  /** Pushes to the live WebSocket sessions of a subject (`websocket` destinations); absent where there is no Redis (a unit test). */
  live?: LivePush;
};

/** An event as a live session receives it, in a frame. */
export type LiveEvent = { id: string; type: string; timestamp: string; data: unknown };

/** Live WebSocket push: frames for the sessions of a subject, which the API processes hold. */
export interface LivePush {
  /**
   * Gives the event the subject's next seq, keeps it for replay and publishes it to the API
   * processes that hold sessions of the subject; answers the seq and how many processes got it.
   */
  push(organizationId: string, subject: string, event: LiveEvent): Promise<{ seq: number; processes: number }>;
  /** How many API processes hold sessions of the subject now. */
  processesHolding(organizationId: string, subject: string): Promise<number>;
}

/** A download link to make: a file already in the file store, for one delivery. */
export type NewDownloadLink = {
  organizationId: string;
  deliveryId: string;
  fileId: string;
  name: string;
  contentType: string;
  size: number;
  expiresAt: Date;
  maxDownloads: number | null;
};

/** Makes download links: records one and answers its public URL (`<DISPATCH_PUBLIC_URL>/d/<token>`). */
export interface DownloadLinks {
  create(link: NewDownloadLink): Promise<{ url: string }>;
}

/** A host a destination's config makes Dispatch connect to, and the config field (dotted path) that names it. */
export type Endpoint = { path: string; host: string };

/** One attempt of one delivery, as a sender receives it. */
export type SendRequest<Config> = {
  destinationId: string;
  /** The organization the destination belongs to (`{organization}` in a broker kind's templates). */
  organizationId: string;
  /** The destination's config, already parsed by its kind's schema (secret fields split off). */
  config: Config;
  /** Live signing secrets, newest first (empty for kinds that do not sign). */
  secrets: readonly string[];
  /** The destination's retry policy: a kind may read protocol rules from it (`nonRetryableStatuses`). */
  retryPolicy: RetryPolicy;
  deliveryId: string;
  attemptNumber: number;
  event: { id: string; type: string; data: unknown; receivedAt: Date };
};

export interface Sender<Config> {
  /** Makes one attempt; answers a verdict, never throws for a peer's failure. */
  send(request: SendRequest<Config>, signal: AbortSignal): Promise<SendResult>;
  /** Checks that the destination can be reached (for `POST /v1/destinations/:id/test`). */
  test(request: SendRequest<Config>, signal: AbortSignal): Promise<SendResult>;
  /** Lets go of what the sender holds for one destination (its queue went idle). */
  release?(destinationId: string): Promise<void>;
  /** Lets go of everything (shutdown). */
  close(): Promise<void>;
}

/**
 * A destination kind: one folder in `libs/destinations/src/<kind>/` exporting one of these,
 * and one line in the registry. Nothing else in Dispatch names a kind.
 */
export interface DestinationKind<Config = unknown> {
  kind: string;
  /** Validates a destination's config; the API's validation, OpenAPI and the admin forms come from it. */
  configSchema: z.ZodType<Config>;
  /** Config fields (dotted paths) that hold credentials: stored encrypted, shown as "********" after creation. */
  secretFields: readonly string[];
  /**
   * The paths of one config (as sent, or as stored) that hold credentials, for a kind whose
   * secret fields depend on the config itself (a webhook's headers); without it, `secretFields`.
   */
  secretPaths?(config: Readonly<Record<string, unknown>>): string[][];
  /**
   * Destinations of this kind sign what they send with a secret of their own (`whsec_…`),
   * given as `config.secret` or made on creation, and rotated with `rotate-secret`.
   */
  signsWithSecret: boolean;
  /**
   * The hosts a valid config connects to (none for a kind that opens no connection): the API
   * refuses a config whose host is a literal address the egress guard refuses.
   */
  endpoints(config: Config): readonly Endpoint[];
  /**
   * What its sender sends besides the payload, for an operator to read (`request.properties` in
   * GET /v1/events/:id): the protocol's properties (a webhook's method, URL and header names),
   * never a credential. Given the config as stored (its credentials sealed). Without it, the
   * destination's config as the API shows it says where deliveries go.
   */
  requestProperties?(config: Readonly<Record<string, unknown>>): Record<string, unknown>;
  createSender(deps: SenderDeps): Sender<Config>;
}
