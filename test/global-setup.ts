import { createTestDatabase } from '@dispatch/testing';

/** One fresh, migrated database for the whole run; every test file works in its own organization. */
export default async function globalSetup(): Promise<void> {
  const database = await createTestDatabase('test');
  process.env.DISPATCH_TEST_DATABASE_URL = database.url;
  process.env.DISPATCH_TEST_DATABASE_NAME = database.name;
}
