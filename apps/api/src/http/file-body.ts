import type { FastifyInstance } from 'fastify';

/** Fastify route config of a route whose body is a file, streamed rather than read (`@RouteConfig(FILE_BODY)`). */
export const FILE_BODY = { fileBody: true } as const;

/**
 * An `application/octet-stream` body is not read by the server: a route whose config says
 * `FILE_BODY` gets the request's stream as its body, to stream it where it goes without holding
 * it whole (Fastify's body limit applies only to bodies it reads, so such a route sets its own);
 * any other route gets no body, as for every type but JSON.
 */
export function acceptFileBodies(server: FastifyInstance): void {
  server.addContentTypeParser('application/octet-stream', (request, payload, done) =>
    done(null, (request.routeOptions.config as { fileBody?: boolean }).fileBody === true ? payload : undefined),
  );
}
