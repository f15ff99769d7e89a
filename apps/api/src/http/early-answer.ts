import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Sends an error answer from an `onRequest` hook, before the request's body is read. A request
 * that carries a body gets `Connection: close`: its body is never read, and the connection
 * cannot serve another request until it would have been.
 */
export async function answerBeforeBody(request: FastifyRequest, reply: FastifyReply, statusCode: number, error: string, message: string): Promise<void> {
  const length = request.headers['content-length'];
  if (request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) reply.header('connection', 'close');
  await reply.status(statusCode).send({ statusCode, error, message });
}
