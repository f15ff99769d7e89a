import { CanActivate, createParamDecorator, ExecutionContext, ForbiddenException, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { roleAllows } from '@dispatch/domain';
import type { Caller } from '@dispatch/db';
import type { FastifyRequest } from 'fastify';
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

/** Requires an API key whose role allows what the route declares with `@Access`. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const key = ApiKeyAuthenticator.keyFrom(request.headers.authorization);
    if (!key) throw new UnauthorizedException('Missing API key: send "Authorization: Bearer <key>"');
    const caller = await this.authenticator.authenticate(key);
    if (!caller) throw new UnauthorizedException('Unknown API key');
    const needed = this.reflector.get<Needed | undefined>(ACCESS, context.getHandler()) ?? 'admin';
    if (!roleAllows(caller.role, needed)) {
      throw new ForbiddenException(`This API key's role (${caller.role}) may not do this; it needs ${needed === 'produce' ? 'producer or admin' : needed}`);
    }
    request.caller = caller;
    return true;
  }
}
