import type { FastifyInstance } from 'fastify';
import { BODY_MAX_DEPTH, jsonErrorWithoutExcerpt, nestsDeeperThan } from '@dispatch/domain';
import { badRequest } from './errors';

/** The largest request body accepted (1 MiB): a larger one is answered 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

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
      done(badRequest([{ path: '', message: `the body is not valid JSON (${jsonErrorWithoutExcerpt((error as Error).message)})` }]), undefined);
    }
  });
}
