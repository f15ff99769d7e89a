import { Inject, Injectable, Logger } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { AuditRepository, AutoDisabledDestination, DestinationHealthRepository } from '@dispatch/db';
import { autoDisableReason } from '@dispatch/domain';
import { DeliveryQueues } from '@dispatch/queue';
import { destinationSummary, OperationalEvents } from '@dispatch/ingest';

/** The audit trail's actor for what Dispatch does by itself (no API key did it). */
export const SYSTEM_ACTOR = 'dispatch';

/**
 * Disables destinations whose attempts have all failed for DISPATCH_AUTO_DISABLE_AFTER_MS (0:
 * never), with a reason naming that period ("every attempt failed for 5 days"), on each pass of
 * the reconciler. Each is recorded in its organization's audit trail (`destination.disable`),
 * announced, so every worker stops sending to it, and told to the organization as a
 * `dispatch.destination.disabled` event (its id derived from the destination and the time, so a
 * pass run again writes it once). Its open deliveries wait, as for any disabled destination,
 * until `resume` enables it again and sends them.
 */
@Injectable()
export class AutoDisable {
  private readonly logger = new Logger(AutoDisable.name);

  constructor(
    private readonly health: DestinationHealthRepository,
    private readonly audit: AuditRepository,
    private readonly queues: DeliveryQueues,
    private readonly events: OperationalEvents,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {}

  /** Returns the destinations disabled by this pass. */
  async run(now: Date): Promise<AutoDisabledDestination[]> {
    const afterMs = this.config.autoDisableAfterMs;
    if (afterMs === 0) return [];
    const disabled = await this.health.disableFailingSince(new Date(now.getTime() - afterMs), autoDisableReason(afterMs));
    for (const destination of disabled) {
      this.logger.warn(`Destination ${destination.id} disabled: ${destination.disabledReason} (failing since ${destination.failingSince.toISOString()})`);
      await this.audit.record({
        organizationId: destination.organizationId,
        actor: SYSTEM_ACTOR,
        action: 'destination.disable',
        target: destination.id,
        details: { reason: destination.disabledReason, failingSince: destination.failingSince.toISOString() },
      });
      await this.queues.announceChange(destination.id);
      await this.events.emit(
        destination.organizationId,
        'dispatch.destination.disabled',
        {
          destination: destinationSummary({ ...destination, enabled: false }),
          disabledAt: destination.disabledAt.toISOString(),
          failingSince: destination.failingSince.toISOString(),
        },
        { aboutDestinationId: destination.id, id: `${destination.id}.disabled.${destination.disabledAt.getTime()}` },
      );
    }
    return disabled;
  }
}
