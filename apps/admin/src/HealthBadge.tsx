import type { HealthSummary } from './api';
import { healthText } from './health';

/** A destination's health status as a coloured badge, with its circuit when that is not closed. */
export function HealthBadge({ health }: { health: HealthSummary | undefined }) {
  if (!health) return <span className="muted">—</span>;
  return <span className={`badge badge-${health.status}`}>{healthText(health)}</span>;
}
