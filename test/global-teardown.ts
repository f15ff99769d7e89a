import { dropTestDatabase } from '@dispatch/testing';

export default async function globalTeardown(): Promise<void> {
  const name = process.env.DISPATCH_TEST_DATABASE_NAME;
  if (name) await dropTestDatabase(name);
}
