import type { FastifyInstance } from 'fastify';
import { badRequest } from './errors';

/** The largest request body accepted (1 MiB): a larger one is answered 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * How deeply arrays and objects may nest in a body: more than any event needs (an event's
 * `data` may itself nest 63 levels), and few enough that nothing recursive (validation, JSON
 * encoding, PostgreSQL) runs out of stack on it.
 */
export const BODY_MAX_DEPTH = 64;

/**
 * Parses `application/json` bodies, where an empty body is no body (a POST such as
 * `/pause` may carry the header with nothing after it). Malformed JSON, or JSON nested deeper
 * than `BODY_MAX_DEPTH`, is a 400. A body of any other type is not read: a route that needs
 * one answers 400, saying to send JSON.
 */
export function acceptJsonBodies(server: FastifyInstance): void {
  server.removeAllContentTypeParsers();
  server.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text === '') return done(null, undefined);
    if (nestsDeeperThan(text, BODY_MAX_DEPTH)) {
      return done(badRequest([{ path: '', message: `the body nests arrays and objects deeper than ${BODY_MAX_DEPTH} levels` }]), undefined);
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(badRequest([{ path: '', message: `the body is not valid JSON (${withoutExcerpt((error as Error).message)})` }]), undefined);
    }
  });
}

/** JSON.parse's message without the excerpt of the body it may quote (`…, "Bearer abc"… is not valid JSON`): a body may hold credentials. */
function withoutExcerpt(message: string): string {
  return message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');
}

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
