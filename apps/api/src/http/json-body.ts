import type { FastifyInstance } from 'fastify';

/** The largest request body accepted (1 MiB): a larger one is answered 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Parses `application/json` bodies, where an empty body is no body (a POST such as
 * `/pause` may carry the header with nothing after it). Malformed JSON is a 400.
 */
export function acceptJsonBodies(server: FastifyInstance): void {
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch (error) {
      done(Object.assign(new Error(`The body is not valid JSON: ${(error as Error).message}`), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
  });
}
