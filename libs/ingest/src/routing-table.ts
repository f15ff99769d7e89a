import { Injectable } from '@nestjs/common';
import { DestinationRepository, RoutableDestination } from '@dispatch/db';

/** How long an organization's enabled destinations are reused for routing. */
const FRESH_MS = 1_000;

/**
 * The enabled destinations of each organization, read at most once a second per API process
 * for routing. Changes made through this process apply at once; changes made elsewhere (another
 * API process, a destination disabled by its receiver) within a second.
 */
@Injectable()
export class RoutingTable {
  private readonly cached = new Map<string, { at: number; destinations: Promise<RoutableDestination[]> }>();

  constructor(private readonly destinations: DestinationRepository) {}

  enabled(organizationId: string): Promise<RoutableDestination[]> {
    const now = Date.now();
    const entry = this.cached.get(organizationId);
    if (entry && now - entry.at < FRESH_MS) return entry.destinations;
    const destinations = this.destinations.listEnabled(organizationId);
    this.cached.set(organizationId, { at: now, destinations });
    destinations.catch(() => this.cached.delete(organizationId));
    if (this.cached.size > 10_000) this.cached.clear();
    return destinations;
  }

  /**
   * After one destination changed through this process: routing sees it at once. The cached
   * list, if any, gets that one destination read again; the rest is kept, so a change costs the
   * same however many destinations the organization has.
   */
  changed(organizationId: string, destinationId: string): void {
    const entry = this.cached.get(organizationId);
    if (!entry) return;
    const destinations = Promise.all([entry.destinations, this.destinations.findRoutable(organizationId, [destinationId])]).then(([listed, found]) => [
      ...listed.filter((destination) => destination.id !== destinationId),
      ...found.filter((destination) => destination.enabled),
    ]);
    const patched = { at: entry.at, destinations };
    this.cached.set(organizationId, patched);
    destinations.catch(() => {
      if (this.cached.get(organizationId) === patched) this.cached.delete(organizationId);
    });
  }
}
