import { createDatabase, Database } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { createTestDatabase, createTestOrganization } from '@dispatch/testing';

/** A migrated database of a test's own, with one organization, for tests of the repositories. */
export type RepositoryFixture = {
  database: Database;
  organizationId: string;
  /** A webhook destination of the organization (its receiver is never called); returns its id. */
  createDestination: (ordering?: 'none' | 'key') => Promise<string>;
  close: () => Promise<void>;
};

export async function openRepositoryFixture(label: string): Promise<RepositoryFixture> {
  const created = await createTestDatabase(label);
  const { organizationId } = await createTestOrganization(created.url);
  const database = createDatabase(created.url, { max: 2 });
  return {
    database,
    organizationId,
    createDestination: async (ordering = 'none') => {
      const id = newId('dst');
      await database.prisma.destination.create({
        data: { id, organizationId, name: id, kind: 'webhook', config: { url: 'http://127.0.0.1:9/hook' }, eventTypes: ['*'], retryPolicy: {}, ordering },
      });
      return id;
    },
    close: async () => {
      await database.close();
      await created.drop();
    },
  };
}
