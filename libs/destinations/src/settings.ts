import {
  CircuitBreakerSettings,
  liveSigningSecrets,
  RateLimitSettings,
  RetryPolicy,
  retryPolicySchema,
  SecretBox,
  storedCircuitBreaker,
  storedRateLimit,
} from '@dispatch/domain';
import type { DestinationKind, SendRequest } from './kind';
import { findKind } from './registry';
import { openConfig, openSecret, PREVIOUS_SECRET_FIELD, SIGNING_SECRET_FIELD } from './stored-secrets';

/** A destination as stored (the columns delivery needs). */
export type StoredDestination = {
  id: string;
  organizationId: string;
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
  rateLimitAdaptive: boolean;
  circuitBreaker: unknown;
  retryPolicy: unknown;
};

/** A destination parsed once for delivery: its kind, its config as the kind reads it, its retry policy. */
export type DestinationSettings = Readonly<{
  id: string;
  organizationId: string;
  kind: DestinationKind;
  /** Its credentials opened. */
  config: unknown;
  retryPolicy: RetryPolicy;
  /** Signing secrets opened, current and previous; `liveSecrets` says which sign now. */
  signing: { secret: string | null; previousSecret: string | null; previousSecretExpiresAt: Date | null };
  enabled: boolean;
  paused: boolean;
  ordered: boolean;
  /** Null: none. */
  rateLimit: RateLimitSettings | null;
  circuitBreaker: CircuitBreakerSettings;
}>;

/**
 * Parses a stored destination, opening its secrets with `secrets`; throws naming the destination
 * when its kind is unknown here, or (with the field and the key) when a secret cannot be opened.
 */
export function destinationSettings(stored: StoredDestination, secrets: SecretBox): DestinationSettings {
  const kind = findKind(stored.kind);
  if (!kind) throw new Error(`destination ${stored.id} is of kind "${stored.kind}", which this deployment cannot deliver to`);
  const open = (sealed: string | null, field: readonly string[]) => (sealed === null ? null : openSecret(secrets, sealed, { row: stored.id, field }));
  return {
    id: stored.id,
    organizationId: stored.organizationId,
    kind,
    config: kind.configSchema.parse(openConfig(kind, stored.config, secrets, stored.id)),
    retryPolicy: retryPolicySchema.parse(stored.retryPolicy ?? {}),
    signing: {
      secret: open(stored.secret, SIGNING_SECRET_FIELD),
      // An expired previous secret never signs again: it is not opened.
      previousSecret: stored.previousSecretExpiresAt && stored.previousSecretExpiresAt > new Date() ? open(stored.previousSecret, PREVIOUS_SECRET_FIELD) : null,
      previousSecretExpiresAt: stored.previousSecretExpiresAt,
    },
    enabled: stored.enabled,
    paused: stored.paused,
    ordered: stored.ordering === 'key',
    rateLimit: storedRateLimit(stored),
    circuitBreaker: storedCircuitBreaker(stored.circuitBreaker),
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
    organizationId: destination.organizationId,
    config: destination.config,
    secrets: liveSecrets(destination),
    retryPolicy: destination.retryPolicy,
    deliveryId: delivery.id,
    attemptNumber: delivery.attemptNumber,
    event: delivery.event,
  };
}
