import { Logger } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * A line per answered request, at `debug` (`LOG_LEVEL=debug`): counts and latencies are what
 * `/metrics` is for (`dispatch_http_requests`), and a line per ingested event would drown
 * everything else. An answer of 500 or more is a failure an operator must see: at `error`
 * (the error filter writes its stack apart), except from the health probes, whose answer is
 * the signal. Only the route's pattern is written (`/v1/deliveries/:id`), never the path
 * itself, its query or a header: a download link's path is its credential.
 */
export function logRequests(server: FastifyInstance, logger = new Logger('http')): void {
  server.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? '(no route)';
    const fields = { reqId: request.id, method: request.method, route, statusCode: reply.statusCode, durationMs: Math.round(reply.elapsedTime) };
    const msg = `${request.method} ${route} answered ${reply.statusCode} in ${fields.durationMs} ms`;
    if (reply.statusCode >= 500 && !route.startsWith('/health/')) logger.error({ ...fields, msg });
    else logger.debug({ ...fields, msg });
  });
}
