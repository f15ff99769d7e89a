// Pure helpers of the Events, Event and Dead letters pages.

import type { FailureCategory } from './api';

/** An event's payload is shown up to this many bytes of its pretty JSON; the rest on demand. */
export const PAYLOAD_SHOWN_BYTES = 64 * 1024;

/** "512 B", "1.5 KiB", "2.0 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export interface PayloadText {
  /** What is shown: all of it, or its first `limit` bytes (never half a character). */
  text: string;
  /** The whole pretty JSON. */
  full: string;
  totalBytes: number;
  shownBytes: number;
  truncated: boolean;
}

/** A payload as pretty JSON (a string as it is), cut to its first `limit` bytes of UTF-8. */
export function payloadText(value: unknown, limit = PAYLOAD_SHOWN_BYTES): PayloadText {
  const full = typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? 'null');
  const bytes = new TextEncoder().encode(full);
  if (bytes.length <= limit) return { text: full, full, totalBytes: bytes.length, shownBytes: bytes.length, truncated: false };
  // A cut inside a character ends in U+FFFD: drop it.
  let text = new TextDecoder().decode(bytes.subarray(0, limit));
  if (text.endsWith('\uFFFD') && !full.startsWith(text)) text = text.slice(0, -1);
  return { text, full, totalBytes: bytes.length, shownBytes: new TextEncoder().encode(text).length, truncated: true };
}

export const CATEGORY_LABELS: Record<FailureCategory, string> = {
  receiver_4xx: 'Receiver 4xx',
  receiver_5xx: 'Receiver 5xx',
  timeout_or_network: 'Timeout or network',
  egress_refused: 'Refused by the egress guard',
  configuration: 'Configuration',
};

/** What an operator does about the dead letters of a category before replaying them. */
export const CATEGORY_ADVICE: Record<FailureCategory, string> = {
  receiver_4xx: 'The receiver refused the request: fix what it says in the response body (payload, auth, path), then replay.',
  receiver_5xx: 'The receiver failed: replay once it is back up.',
  timeout_or_network: 'The receiver could not be reached in time: check its address and network, then replay.',
  egress_refused: "The address is one Dispatch may not call (DISPATCH_EGRESS_ALLOW): change the destination's URL or the allow list, then replay.",
  configuration: "The destination's settings could not make a request (e.g. a template that does not fill): fix the destination, then replay.",
};

export function categoryLabel(category: FailureCategory | null | undefined): string {
  return category ? (CATEGORY_LABELS[category] ?? category) : '—';
}

/**
 * A time typed in a `datetime-local` field, read as UTC ("2026-12-01T14:05" → "2026-12-01T14:05:00.000Z");
 * undefined when empty, null when it is not a time.
 */
export function utcTime(value: string): string | undefined | null {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(trimmed)) return null;
  const date = new Date(`${trimmed}Z`);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
