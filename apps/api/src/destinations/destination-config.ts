import { EgressGuard, findKind, MASKED } from '@dispatch/destinations';
import { signingSecretProblem } from '@dispatch/domain';
import type { Prisma } from '@dispatch/db';
import { badRequest, parse } from '../http/errors';

/**
 * Validates a destination's config with its kind's schema, refuses hosts that are literal
 * addresses the egress guard refuses (names are checked when connecting), and splits off its
 * signing secret, if it has one (`"********"`, which asks to keep the stored one, as it is).
 */
export function checkedConfig(kindName: string, config: Record<string, unknown>, egress: EgressGuard): { config: Prisma.InputJsonObject; secret: string | undefined } {
  const kind = findKind(kindName);
  if (!kind) throw badRequest([{ path: 'kind', message: `"${kindName}" destinations are not available yet` }]);
  const parsed = parse(kind.configSchema, config, 'config') as Record<string, unknown>;
  const refused = kind.endpoints(parsed).flatMap((endpoint) => {
    const refusal = egress.hostRefusal(endpoint.host);
    return refusal ? [{ path: `config.${endpoint.path}`, message: refusal.message }] : [];
  });
  if (refused.length > 0) throw badRequest(refused);
  if (!kind.signsWithSecret) return { config: parsed as Prisma.InputJsonObject, secret: undefined };
  const { secret, ...rest } = parsed as Record<string, unknown> & { secret?: string };
  if (secret !== undefined && secret !== MASKED) {
    const problem = signingSecretProblem(secret);
    if (problem) throw badRequest([{ path: 'config.secret', message: problem }]);
  }
  return { config: rest as Prisma.InputJsonObject, secret };
}
