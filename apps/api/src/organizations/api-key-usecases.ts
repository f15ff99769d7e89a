import { ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { ApiKeyRecord, Caller, OPERATOR_ORGANIZATION, OrganizationRepository } from '@dispatch/db';
import { generateApiKey } from '@dispatch/domain';
import { ApiKeyAuthenticator } from '../auth/api-key-authenticator';
import { CreateApiKeyInput } from './organization.schemas';

@Injectable()
export class CreateApiKey {
  constructor(private readonly organizations: OrganizationRepository) {}

  /** A new key of the organization; the key itself is returned this once, only its hash is stored. */
  async execute(organizationId: string, input: CreateApiKeyInput): Promise<{ record: ApiKeyRecord; key: string }> {
    const key = generateApiKey();
    const record = await this.organizations.addApiKey(organizationId, input.name, input.role, key);
    return { record, key };
  }
}

@Injectable()
export class RevokeApiKey {
  constructor(
    private readonly organizations: OrganizationRepository,
    private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  /**
   * Revokes a key of the organization: every API process refuses it from now on. Revoking a
   * revoked key changes nothing. Returns whether this call revoked it.
   */
  async execute(organizationId: string, id: string): Promise<boolean> {
    const outcome = await this.organizations.revokeApiKey(organizationId, id);
    if (outcome === 'not-found') throw new NotFoundException(`API key ${id} not found`);
    if (outcome === 'last-admin') {
      throw new ConflictException(`API key ${id} is the last admin key of this organization: create another admin key before revoking it`);
    }
    if (outcome === 'revoked') await this.authenticator.revoked(id);
    return outcome === 'revoked';
  }
}

@Injectable()
export class CreateOrganization {
  constructor(private readonly organizations: OrganizationRepository) {}

  /** Only an admin of the operator's organization may create organizations. */
  static assertAllowed(caller: Caller): void {
    if (caller.organizationName !== OPERATOR_ORGANIZATION) {
      throw new ForbiddenException(`Only an admin key of the "${OPERATOR_ORGANIZATION}" organization may create organizations`);
    }
  }

  /** A new organization with an admin key, returned this once. */
  async execute(name: string): Promise<{ id: string; name: string; adminKey: string }> {
    const adminKey = generateApiKey();
    const created = await this.organizations.createWithAdminKey(name, adminKey);
    if (!created) throw new ConflictException(`An organization named "${name}" exists already`);
    return { ...created, adminKey };
  }
}
