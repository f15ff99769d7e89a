import { CanActivate, createParamDecorator, ExecutionContext, ForbiddenException, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { roleAllows } from '@dispatch/domain';
import { isDatabaseUnavailable } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { answerBeforeBody } from '../http/early-answer';
import { isQueuesRoute, QUEUES_ROUTE } from '../operations/queues-route';
import { ApiKeyAuthenticator } from './api-key-authenticator';

type Needed = 'read' | 'produce' | 'admin';
const ACCESS = 'dispatch:access';

/** What a route needs: `read` (any role), `produce` (producer or admin) or `admin`. */
export const Access = (needed: Needed) => SetMetadata(ACCESS, needed);

type AuthenticatedRequest = FastifyRequest & { caller?: Caller };

/** The authenticated caller of a `/v1` route. */
export const CurrentCaller = createParamDecorator((_data: unknown, context: ExecutionContext): Caller => {
  const caller = context.switchToHttp().getRequest<AuthenticatedRequest>().caller;
  if (!caller) throw new UnauthorizedException('Missing API key');
  return caller;
});

/**
 * Requires the caller that `authenticateApiRequests` found to have a role that allows what the
 * route declares with `@Access`.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const caller = context.switchToHttp().getRequest<AuthenticatedRequest>().caller;
    if (!caller) throw new UnauthorizedException(MISSING_KEY);
    const needed = this.reflector.get<Needed | undefined>(ACCESS, context.getHandler()) ?? 'admin';
    if (!roleAllows(caller.role, needed)) {
      throw new ForbiddenException(`This API key's role (${caller.role}) may not do this; it needs ${needed === 'produce' ? 'producer or admin' : needed}`);
    }
    return true;
  }
}

const MISSING_KEY = 'Missing API key: send "Authorization: Bearer <key>"';

/** Fastify route config of a `/v1` route that takes no API key (it authenticates its callers its own way). */
export const NO_API_KEY = { apiKey: false } as const;

const CALLER_LOOKUP = Symbol('dispatch.callerLookup');
type LookedUpRequest = FastifyRequest & { [CALLER_LOOKUP]?: Promise<Caller | null> };

/**
 * The caller whose API key the request carries, or null: `Authorization: Bearer <key>`, or, under
 * `/queues` only, HTTP Basic with the key as password. Looked up once per request, however many
 * hooks ask (the rate limit, then authentication).
 */
export function callerOf(request: FastifyRequest, authenticator: ApiKeyAuthenticator): Promise<Caller | null> {
  const looked = request as LookedUpRequest;
  looked[CALLER_LOOKUP] ??= lookUpCaller(request, authenticator);
  return looked[CALLER_LOOKUP];
}

function lookUpCaller(request: FastifyRequest, authenticator: ApiKeyAuthenticator): Promise<Caller | null> {
  const authorization = request.headers.authorization;
  const key = ApiKeyAuthenticator.bearerKey(authorization) ?? (isQueuesRoute(request.routeOptions.url) ? ApiKeyAuthenticator.basicPassword(authorization) : null);
  return key ? authenticator.authenticate(key) : Promise.resolve(null);
}

/** Whether a request must carry an API key: every `/v1` route (also one that does not exist), unless its config says `NO_API_KEY`. */
function needsApiKey(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  if (route !== undefined) return (route === '/v1' || route.startsWith('/v1/')) && (request.routeOptions.config as { apiKey?: boolean }).apiKey !== false;
  const path = request.url.split('?', 1)[0];
  return path === '/v1' || path.startsWith('/v1/');
}

/**
 * An `onRequest` hook: a `/v1` request without a valid `Authorization: Bearer` key is answered
 * 401 before its body is read; otherwise its caller is kept for `ApiKeyGuard` and `CurrentCaller`.
 * HTTP Basic is not accepted here (only under `/queues`): a browser that signed in to Bull Board
 * sends it on its own, also on requests another site makes it send.
 */
export function authenticateApiRequests(authenticator: ApiKeyAuthenticator) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!needsApiKey(request)) return;
    const authorization = request.headers.authorization;
    if (!ApiKeyAuthenticator.bearerKey(authorization)) {
      const basic = ApiKeyAuthenticator.basicPassword(authorization) !== null;
      return refuse(request, reply, basic ? `${MISSING_KEY}; HTTP Basic auth is accepted only under ${QUEUES_ROUTE}` : MISSING_KEY);
    }
    let caller: Caller | null;
    try {
      caller = await callerOf(request, authenticator);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      return answerBeforeBody(request, reply, 503, 'Service Unavailable', 'The database is unavailable; nothing was written. Try again shortly.');
    }
    if (!caller) return refuse(request, reply, 'Unknown API key: it does not exist or was revoked');
    (request as AuthenticatedRequest).caller = caller;
  };
}

function refuse(request: FastifyRequest, reply: FastifyReply, message: string): Promise<void> {
  return answerBeforeBody(request, reply.header('WWW-Authenticate', 'Bearer realm="Dispatch API"'), 401, 'Unauthorized', message);
}
