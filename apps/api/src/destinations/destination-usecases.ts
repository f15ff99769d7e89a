import { HttpException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { DeliveryScans, DestinationChanges, DestinationHealthRepository, DestinationRecord, DestinationRepository, Prisma } from '@dispatch/db';
import { DestinationKind, EgressGuard, findKind, MASKED, Senders, sendRequest } from '@dispatch/destinations';
import { generateSigningSecret, newId } from '@dispatch/domain';
import { AdaptiveRates, CircuitBreakers, DeliveryQueues, enqueueRequest } from '@dispatch/queue';
import { Metrics } from '../operations/metrics';
import { badRequest } from '../http/errors';
import { checkedConfig } from './destination-config';
import { DestinationSecrets } from './destination-secrets';
import { CreateDestinationInput, UpdateDestinationInput } from './destination.schemas';

@Injectable()
export class DestinationFinder {
  constructor(private readonly destinations: DestinationRepository) {}

  async get(organizationId: string, id: string): Promise<DestinationRecord> {
    const destination = await this.destinations.find(organizationId, id);
    if (!destination) throw new NotFoundException(`Destination ${id} not found`);
    return destination;
  }
}

/**
 * Sends again the open deliveries of a destination that was disabled or paused. An open circuit
 * keeps the queue paused: the worker that makes it half-open resumes it.
 */
@Injectable()
export class ReopenDestination {
  constructor(
    private readonly deliveries: DeliveryScans,
    private readonly queues: DeliveryQueues,
    private readonly circuits: CircuitBreakers,
  ) {}

  async execute(destination: DestinationRecord): Promise<void> {
    await this.queues.announceChange(destination.id);
    if ((await this.circuits.state(destination.id)).circuit !== 'open') await this.queues.resume(destination.id);
    const open = await this.deliveries.openDeliveriesOf(destination.id);
    await this.queues.enqueue(
      open.map((delivery) => enqueueRequest({ ...delivery, destinationId: destination.id, priority: delivery.event.priority }, destination.retryPolicy)),
    );
  }
}

@Injectable()
export class CreateDestination {
  constructor(
    private readonly destinations: DestinationRepository,
    private readonly egress: EgressGuard,
    private readonly secrets: DestinationSecrets,
  ) {}

  /** Creates the destination, its secrets sealed; the signing secret is in the answer this once. */
  async execute(organizationId: string, input: CreateDestinationInput): Promise<{ destination: DestinationRecord; secret: string | null }> {
    const { config, secret } = checkedConfig(input.kind, input.config, this.egress);
    if (secret === MASKED) throw badRequest([{ path: 'config.secret', message: 'is "********", which keeps a stored secret, but a new destination has none' }]);
    const kind = findKind(input.kind) as DestinationKind;
    const signingSecret = kind.signsWithSecret ? (secret ?? generateSigningSecret()) : null;
    const id = newId('dst');
    const destination = await this.destinations.create({
      id,
      organizationId,
      name: input.name,
      kind: input.kind,
      config: this.secrets.newConfig(kind, id, config),
      secret: signingSecret === null ? null : this.secrets.sealSigningSecret(id, signingSecret),
      eventTypes: input.eventTypes,
      enabled: input.enabled,
      disabledAt: input.enabled ? null : new Date(),
      rateLimitMax: input.rateLimit?.max ?? null,
      rateLimitDurationMs: input.rateLimit?.durationMs ?? null,
      rateLimitAdaptive: input.rateLimit?.adaptive ?? false,
      circuitBreaker: input.circuitBreaker,
      retryPolicy: input.retryPolicy as Prisma.InputJsonObject,
      ordering: input.ordering,
    });
    return { destination, secret: signingSecret };
  }
}

@Injectable()
export class UpdateDestination {
  constructor(
    private readonly finder: DestinationFinder,
    private readonly destinations: DestinationRepository,
    private readonly reopen: ReopenDestination,
    private readonly queues: DeliveryQueues,
    private readonly egress: EgressGuard,
    private readonly secrets: DestinationSecrets,
    private readonly health: DestinationHealthRepository,
    private readonly rates: AdaptiveRates,
  ) {}

  async execute(organizationId: string, id: string, input: UpdateDestinationInput): Promise<DestinationRecord> {
    const current = await this.finder.get(organizationId, id);
    if (input.kind !== undefined && input.kind !== current.kind) {
      throw badRequest([{ path: 'kind', message: 'cannot be changed; create a new destination instead' }]);
    }
    const changes: DestinationChanges = {
      name: input.name,
      eventTypes: input.eventTypes,
      enabled: input.enabled,
      ordering: input.ordering,
      retryPolicy: input.retryPolicy as Prisma.InputJsonObject | undefined,
    };
    if (input.config !== undefined) {
      const { config, secret } = checkedConfig(current.kind, input.config, this.egress);
      changes.config = this.secrets.changedConfig(findKind(current.kind) as DestinationKind, current, config);
      // Left out, or sent back as "********": the stored signing secret stays.
      if (secret !== undefined && secret !== MASKED) changes.secret = this.secrets.sealSigningSecret(id, secret);
    }
    if (input.rateLimit !== undefined) {
      changes.rateLimitMax = input.rateLimit?.max ?? null;
      changes.rateLimitDurationMs = input.rateLimit?.durationMs ?? null;
      changes.rateLimitAdaptive = input.rateLimit?.adaptive ?? false;
    }
    if (input.circuitBreaker !== undefined) changes.circuitBreaker = input.circuitBreaker;
    if (input.enabled === true) Object.assign(changes, { disabledReason: null, disabledAt: null });
    if (input.enabled === false && current.enabled) changes.disabledAt = new Date();
    // Before it is enabled, so auto-disable never sees it enabled with its old failure streak.
    if (input.enabled === true && !current.enabled) await this.health.restartFailureClock(id);
    const updated = await this.destinations.update(id, changes);
    // A new rate limit starts at its max: a rate lowered under the old one is forgotten.
    if (input.rateLimit !== undefined) await this.rates.reset(id);
    await this.queues.announceChange(id);
    if (input.enabled === true && !current.enabled) await this.reopen.execute(updated);
    return updated;
  }
}

@Injectable()
export class DeleteDestination {
  constructor(
    private readonly finder: DestinationFinder,
    private readonly destinations: DestinationRepository,
    private readonly queues: DeliveryQueues,
    private readonly rates: AdaptiveRates,
  ) {}

  /** Deletes the destination, its deliveries and its queue. */
  async execute(organizationId: string, id: string): Promise<void> {
    await this.finder.get(organizationId, id);
    await this.destinations.delete(id);
    await this.queues.remove(id);
    await this.rates.reset(id);
    await this.queues.announceChange(id);
  }
}

@Injectable()
export class PauseDestination {
  constructor(
    private readonly finder: DestinationFinder,
    private readonly destinations: DestinationRepository,
    private readonly queues: DeliveryQueues,
  ) {}

  /** Holds the destination's deliveries (they stay `pending`) until it is resumed. */
  async execute(organizationId: string, id: string): Promise<DestinationRecord> {
    await this.finder.get(organizationId, id);
    await this.queues.pause(id);
    const paused = await this.destinations.update(id, { paused: true });
    await this.queues.announceChange(id);
    return paused;
  }
}

@Injectable()
export class ResumeDestination {
  constructor(
    private readonly finder: DestinationFinder,
    private readonly destinations: DestinationRepository,
    private readonly reopen: ReopenDestination,
    private readonly health: DestinationHealthRepository,
  ) {}

  /**
   * Resumes a paused destination, or re-enables one that was disabled, and sends what it held.
   * Auto-disable counts a new period from its next failed attempt.
   */
  async execute(organizationId: string, id: string): Promise<DestinationRecord> {
    await this.finder.get(organizationId, id);
    // Before it is enabled, so auto-disable never sees it enabled with its old failure streak.
    await this.health.restartFailureClock(id);
    const destination = await this.destinations.update(id, { paused: false, enabled: true, disabledReason: null, disabledAt: null });
    await this.reopen.execute(destination);
    return destination;
  }
}

export type TestResult = { ok: boolean; statusCode?: number; durationMs: number; error?: string };

/** A test send the destination's rate limit holds back: 429, and `Retry-After` (whole seconds) says when one fits. */
export class TestRateLimited extends HttpException {
  constructor(
    readonly retryAfterSeconds: number,
    limit: { max: number; durationMs: number },
  ) {
    super(
      {
        statusCode: 429,
        message: `The destination's rate limit (${limit.max} attempts per ${limit.durationMs} ms, shared with its deliveries) is used up; nothing was sent. Retry in ${retryAfterSeconds} s`,
      },
      429,
    );
  }
}

@Injectable()
export class TestDestination {
  constructor(
    private readonly finder: DestinationFinder,
    private readonly senders: Senders,
    private readonly secrets: DestinationSecrets,
    private readonly rates: AdaptiveRates,
    private readonly metrics: Metrics,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {}

  /**
   * Runs the kind's connection test now (a webhook: a signed `dispatch.test` event), outside the
   * queue, and reports it. It counts against the destination's rate limit like an attempt;
   * when the limit is used up, `TestRateLimited` and nothing is sent.
   */
  async execute(organizationId: string, id: string): Promise<TestResult> {
    const destination = this.secrets.settings(await this.finder.get(organizationId, id));
    if (destination.rateLimit) {
      const waitMs = await this.rates.takeTestSend(destination.id, destination.rateLimit);
      if (waitMs > 0) {
        this.metrics.rateLimiterRejections.inc({ source: 'test' });
        throw new TestRateLimited(Math.max(1, Math.ceil(waitMs / 1000)), destination.rateLimit);
      }
    }
    const eventId = newId('test');
    const event = { id: eventId, type: 'dispatch.test', data: { message: 'Test event from Dispatch' }, receivedAt: new Date() };
    const result = await this.senders
      .of(destination.kind)
      .test(sendRequest(destination, { id: eventId, attemptNumber: 1, event }), AbortSignal.timeout(this.config.attempts.timeoutMs));
    const ok = result.verdict === 'delivered';
    const error = ok ? undefined : (result.error ?? result.reason);
    return { ok, ...(result.statusCode === undefined ? {} : { statusCode: result.statusCode }), durationMs: result.durationMs, ...(error ? { error } : {}) };
  }
}

export type RotatedSecret = { secret: string; previousValidUntil: string | null };

@Injectable()
export class RotateSecret {
  constructor(
    private readonly finder: DestinationFinder,
    private readonly destinations: DestinationRepository,
    private readonly queues: DeliveryQueues,
    private readonly secrets: DestinationSecrets,
  ) {}

  /**
   * Gives the destination a new signing secret. Until `previousValidUntil` webhooks carry a
   * signature with each secret, so receivers can switch without losing one.
   */
  async execute(organizationId: string, id: string, previousValidForSeconds: number, secret = generateSigningSecret()): Promise<RotatedSecret> {
    const destination = await this.finder.get(organizationId, id);
    if (!destination.secret) throw badRequest([{ path: 'kind', message: `${destination.kind} destinations have no signing secret` }]);
    const previousValidUntil = previousValidForSeconds > 0 ? new Date(Date.now() + previousValidForSeconds * 1000) : null;
    await this.destinations.update(id, {
      secret: this.secrets.sealSigningSecret(id, secret),
      // Sealed again: a sealed value opens only in the field it was sealed for.
      previousSecret: previousValidUntil ? this.secrets.sealSigningSecret(id, this.secrets.signingSecret(id, destination.secret), true) : null,
      previousSecretExpiresAt: previousValidUntil,
    });
    await this.queues.announceChange(id);
    return { secret, previousValidUntil: previousValidUntil?.toISOString() ?? null };
  }
}
