/**
 * A subject of live WebSocket push: who a frame is for (a user, a device group…), within one
 * organization. 1–200 characters, letters, digits and `_ - . : @ + = |` (an email address or
 * `user_123` fits; spaces and braces do not).
 */
export const LIVE_SUBJECT = /^[A-Za-z0-9_.:@+=|-]{1,200}$/;

/** What is wrong with `subject` as a subject of live push, or null when nothing is. */
export function liveSubjectProblem(subject: string): string | null {
  if (subject.length === 0) return 'is empty';
  if (subject.length > 200) return `is ${subject.length} characters long; at most 200`;
  if (!LIVE_SUBJECT.test(subject)) return 'may hold only letters, digits and _ - . : @ + = |';
  return null;
}
