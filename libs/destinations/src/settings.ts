import { liveSigningSecrets, RetryPolicy, retryPolicySchema } from '@dispatch/domain';
import type { DestinationKind, SendRequest } from './kind';
import { findKind } from './registry';

/** A destination as stored (the columns delivery needs). */
export type StoredDestination = {
  id: string;
  kind: string;
  config: unknown;
  secret: string | null;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  enabled: boolean;
  paused: boolean;
  ordering: 'none' | 'key';
  rateLimitMax: number | null;
  rateLimitDurationMs: number | null;
  retryPolicy: unknown;
};

/** A destination parsed once for delivery: its kind, its config as the kind reads it, its retry policy. */
export type DestinationSettings = Readonly<{
  id: string;
  kind: DestinationKind;
  config: unknown;
  retryPolicy: RetryPolicy;
  /** Signing secrets as stored, current and previous; `liveSecrets` says which sign now. */
  signing: { secret: string | null; previousSecret: string | null; previousSecretExpiresAt: Date | null };
  enabled: boolean;
  paused: boolean;
  ordered: boolean;
  rateLimit: { max: number; durationMs: number } | null;
}>;

/** Parses a stored destination; throws naming the destination when its kind is unknown here. */
export function destinationSettings(stored: StoredDestination): DestinationSettings {
  const kind = findKind(stored.kind);
  if (!kind) throw new Error(`destination ${stored.id} is of kind "${stored.kind}", which this deployment cannot deliver to`);
  return {
    id: stored.id,
    kind,
    config: kind.configSchema.parse(stored.config),
    retryPolicy: retryPolicySchema.parse(stored.retryPolicy ?? {}),
    signing: { secret: stored.secret, previousSecret: stored.previousSecret, previousSecretExpiresAt: stored.previousSecretExpiresAt },
    enabled: stored.enabled,
    paused: stored.paused,
    ordered: stored.ordering === 'key',
    rateLimit: stored.rateLimitMax && stored.rateLimitDurationMs ? { max: stored.rateLimitMax, durationMs: stored.rateLimitDurationMs } : null,
  };
}

/** The secrets that sign an attempt made at `now`. */
export function liveSecrets(settings: DestinationSettings, now: Date = new Date()): string[] {
  return liveSigningSecrets(settings.signing, now);
}

/** One attempt of `delivery` to the destination, as its kind's sender takes it (signed with the secrets live now). */
export function sendRequest(
  destination: DestinationSettings,
  delivery: { id: string; attemptNumber: number; event: SendRequest<unknown>['event'] },
): SendRequest<unknown> {
  return {
    destinationId: destination.id,
    config: destination.config,
    secrets: liveSecrets(destination),
    retryPolicy: destination.retryPolicy,
    deliveryId: delivery.id,
    attemptNumber: delivery.attemptNumber,
    event: delivery.event,
  };
}
