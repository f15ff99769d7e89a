/** "2025-01-31 14:05:09 UTC" — stable across browser locales and time zones. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function formatDuration(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : `${ms} ms`;
}

export function lastErrorText(delivery: { lastError: string | null }): string {
  return delivery.lastError ?? '—';
}
