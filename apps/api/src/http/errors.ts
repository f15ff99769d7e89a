import { ArgumentsHost, BadRequestException, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { isDatabaseUnavailable } from '@dispatch/db';
import { fieldsWithNul, redactSecrets } from '@dispatch/domain';

export type ErrorDetail = { path: string; message: string };

/** A 400 naming every offending field: `{ statusCode, error, message, details }`. */
export function badRequest(details: ErrorDetail[]): BadRequestException {
  const message = details.map((detail) => (detail.path ? `${detail.path}: ${detail.message}` : detail.message)).join('; ');
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message, details });
}

/** Parses input with a schema, or throws a 400 whose paths start with `where` (body, query…). */
export function parse<S extends z.ZodType>(schema: S, input: unknown, where?: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw badRequest(
    result.error.issues.map((issue) => ({
      path: [...(where ? [where] : []), ...issue.path.map(String)].join('.'),
      message: issue.message,
    })),
  );
}

/**
 * Parses a request body, which must be a JSON object, or throws a 400 naming each bad field.
 * No text in it may hold the NUL character, which PostgreSQL cannot store.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest([{ path: '', message: 'the body must be a JSON object, sent with content-type: application/json' }]);
  }
  const withNul = fieldsWithNul(body);
  if (withNul.length > 0) throw badRequest(withNul);
  return parse(schema, body);
}

/** Every error leaves the API in one shape: `{ statusCode, error, message, details? }`. */
@Catch()
export class ErrorShapeFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<FastifyReply>();
    if (response.sent) return;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const shaped =
        typeof body === 'object' && body !== null
          ? { statusCode: status, error: errorName(status), ...(body as object) }
          : { statusCode: status, error: errorName(status), message: String(body) };
      response.status(status).send(shaped);
      return;
    }
    if (isDatabaseUnavailable(exception)) {
      this.logger.warn(`PostgreSQL unreachable: ${(exception as Error).message}`);
      response.status(503).send({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'The database is unavailable; nothing was written. Try again shortly.',
      });
      return;
    }
    this.logger.error(redactSecrets(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)));
    response.status(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'Internal server error' });
  }
}

function errorName(status: number): string {
  const name = HttpStatus[status];
  if (!name) return 'Error';
  return name
    .split('_')
    .map((word) => word.charAt(0) + word.slice(1).toLowerCase())
    .join(' ');
}
