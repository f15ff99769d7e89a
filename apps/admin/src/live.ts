// How the Live page checks a subject and shows its sessions (docs/API.md, "Live WebSocket push").
// Pure, so it is unit-tested on its own.

/** The most characters a subject may have. */
export const SUBJECT_MAX_LENGTH = 200;

const SUBJECT_CHARACTER = /[A-Za-z0-9_\-.:@+=|]/;

/** The rule as the page states it below the field. */
export const SUBJECT_RULE = `A subject is 1–${SUBJECT_MAX_LENGTH} characters of A–Z a–z 0–9 _ - . : @ + = | (no spaces, no braces).`;

/** How a character the rule refuses is named: a space or a tab is hard to see between quotes. */
function characterName(character: string): string {
  if (character === ' ') return 'a space';
  if (character === '\t') return 'a tab';
  if (/\s/.test(character)) return 'a line break or other blank';
  return `"${character}"`;
}

/**
 * What is wrong with `subject` in words, or null when the API would take it: 1–200 of
 * `A-Z a-z 0-9 _ - . : @ + = |`. Only the first few refused characters are named.
 */
export function subjectProblem(subject: string): string | null {
  if (subject === '') return 'Enter a subject.';
  const length = subject.length;
  if (length > SUBJECT_MAX_LENGTH) return `A subject has at most ${SUBJECT_MAX_LENGTH} characters; this one has ${length}.`;
  const refused: string[] = [];
  for (const character of subject) {
    if (!SUBJECT_CHARACTER.test(character) && !refused.includes(character)) refused.push(character);
  }
  if (refused.length === 0) return null;
  const named = refused.slice(0, 3).map(characterName);
  const list =
    refused.length > 3
      ? `${named.join(', ')} or ${refused.length === 4 ? 'one other character' : `${refused.length - 3} other characters`}`
      : named.length === 1
        ? named[0]
        : `${named.slice(0, -1).join(', ')} or ${named[named.length - 1]}`;
  return `A subject may not contain ${list}.`;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago" (rounded down); a time ahead of `now` (clocks apart) is "just now". */
export function relativeTime(iso: string, now: Date): string {
  const at = new Date(iso).getTime();
  if (Number.isNaN(at)) return '—';
  const seconds = Math.floor((now.getTime() - at) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** "1 session", "3 sessions". */
export function sessionsText(count: number): string {
  return count === 1 ? '1 session' : `${count} sessions`;
}
