/**
 * The BullMQ priority of a delivery job (lower goes first). BullMQ takes jobs without a priority
 * before any prioritized one, so every job has one, in two groups:
 * - first attempts: 1 (event priority 10) to 11 (event priority 0);
 * - retries: 12 (event priority 10) to 22 (event priority 0).
 * A destination's retries thus wait behind its first attempts, whatever their events' priorities:
 * a retry storm after an outage does not hold up fresh events, and within each group a higher
 * event priority still goes first. BullMQ keeps a job's priority when the job leaves the delayed
 * set (a backoff, a parked job), so a job that fails takes its retry priority before it waits.
 */
const LEVELS = 11;

/** The priority of a job for an event of `eventPriority` (0–10) whose next attempt is a retry or the first. */
export function jobPriority(eventPriority: number, retry: boolean): number {
  const level = LEVELS - Math.min(10, Math.max(0, Math.round(eventPriority)));
  return retry ? level + LEVELS : level;
}

/** The priority a job's retries take: its event's priority in the retry group (a job already there keeps its own). */
export function retryPriority(priority: number): number {
  if (priority > LEVELS) return Math.min(priority, 2 * LEVELS);
  return Math.max(1, priority) + LEVELS;
}

/** Whether a job of this priority waits in the retry group. */
export function isRetryPriority(priority: number): boolean {
  return priority > LEVELS;
}
