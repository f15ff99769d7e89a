/** A field that is wrong, by its path (`data`, `events.3.type`) and what is wrong with it. */
export type FieldProblem = { path: string; message: string };

/**
 * How deeply arrays and objects may nest in a body (an HTTP request's or a bus message's): more
 * than any event needs (an event's `data` may itself nest 63 levels), and few enough that
 * nothing recursive (validation, JSON encoding, PostgreSQL) runs out of stack on it.
 */
export const BODY_MAX_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }

/**
 * True when JSON text opens more than `limit` arrays or objects inside one another. A single
 * pass over the text, outside strings, so it runs before anything that would recurse.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === BACKSLASH) i += 1;
      else if (char === QUOTE) inString = false;
    } else if (char === QUOTE) {
      inString = true;
    } else if (OPEN.has(char)) {
      depth += 1;
      if (depth > limit) return true;
    } else if (CLOSE.has(char)) {
      depth -= 1;
    }
  }
  return false;
}

/** JSON.parse's message without the excerpt of the text it may quote (`…, "Bearer abc"… is not valid JSON`): a body may hold credentials. */
export function jsonErrorWithoutExcerpt(message: string): string {
  return message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');
}

/** One problem per field of `object` that holds the NUL character (which PostgreSQL cannot store), its path under `where`. */
export function fieldsWithNul(object: object, where?: string): FieldProblem[] {
  return Object.entries(object)
    .filter(([key, value]) => key.includes('\u0000') || containsNul(value))
    .map(([key]) => ({ path: where ? `${where}.${key}` : key, message: 'must not contain the NUL character (\\u0000)' }));
}

/** True when a string, or any key or string inside an array or object, holds U+0000. */
function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) if (key.includes('\u0000') || containsNul(inner)) return true;
  }
  return false;
}
