import { configSchemas, isAvailableKind } from '@dispatch/destinations';
import { signingSecretProblem } from '@dispatch/domain';
import type { Prisma } from '@dispatch/db';
import { badRequest, parse } from '../http/errors';

/** Validates a kind's config and splits off its signing secret, if it has one. */
export function checkedConfig(kind: string, config: Record<string, unknown>): { config: Prisma.InputJsonObject; secret: string | undefined } {
  if (!isAvailableKind(kind)) throw badRequest([{ path: 'kind', message: `"${kind}" destinations are not available yet; use "webhook"` }]);
  const { secret, ...rest } = parse(configSchemas[kind], config, 'config') as Record<string, unknown> & { secret?: string };
  if (secret !== undefined) {
    const problem = signingSecretProblem(secret);
    if (problem) throw badRequest([{ path: 'config.secret', message: problem }]);
  }
  return { config: rest as Prisma.InputJsonObject, secret };
}
