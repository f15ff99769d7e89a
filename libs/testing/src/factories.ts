import { randomBytes } from 'node:crypto';
import { createDatabase, OrganizationRepository } from '@dispatch/db';
import { generateApiKey } from '@dispatch/domain';

export type TestOrganization = { organizationId: string; adminKey: string; producerKey: string; viewerKey: string };

/** A new organization with one API key of each role. */
export async function createTestOrganization(databaseUrl: string, name = `org-${randomBytes(4).toString('hex')}`): Promise<TestOrganization> {
  const database = createDatabase(databaseUrl, { max: 1 });
  try {
    const organizations = new OrganizationRepository(database);
    const { id } = await organizations.create(name);
    const keys = { adminKey: generateApiKey(), producerKey: generateApiKey(), viewerKey: generateApiKey() };
    await organizations.addApiKey(id, 'admin', 'admin', keys.adminKey);
    await organizations.addApiKey(id, 'producer', 'producer', keys.producerKey);
    await organizations.addApiKey(id, 'viewer', 'viewer', keys.viewerKey);
    return { organizationId: id, ...keys };
  } finally {
    await database.close();
  }
}

/** A webhook destination body for `POST /v1/destinations`. */
export function webhookDestination(url: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: `hook-${randomBytes(3).toString('hex')}`, kind: 'webhook', config: { url }, eventTypes: ['*'], ...overrides };
}

/** `name` with a random suffix, so ids never collide across tests and runs. */
export function uniqueId(name: string): string {
  return `${name}_${randomBytes(4).toString('hex')}`;
}

/** A webhook signing secret as a producer would give one (`whsec_` + 32 random bytes). */
export function webhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
