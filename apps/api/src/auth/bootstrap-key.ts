import { Logger } from '@nestjs/common';
import { OrganizationRepository } from '@dispatch/db';

/**
 * At start-up: organization `default` with an admin key equal to DISPATCH_BOOTSTRAP_KEY, and the
 * key an earlier value made revoked (see OrganizationRepository.ensureBootstrap).
 */
export async function ensureBootstrapKey(organizations: OrganizationRepository, key: string): Promise<void> {
  const logger = new Logger('api-keys');
  const outcome = await organizations.ensureBootstrap(key);
  if (outcome.keyRevoked) {
    logger.warn('DISPATCH_BOOTSTRAP_KEY was revoked through the API and stays revoked: set a new value to have a bootstrap key again');
  }
  if (outcome.previousRevoked > 0) logger.log('DISPATCH_BOOTSTRAP_KEY changed: the key made from its previous value is revoked');
}
