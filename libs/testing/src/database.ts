import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { applyMigrations, defaultMigrationsDir } from '@dispatch/db';
import { testSecretBox } from './encryption';

export const POSTGRES_URL = process.env.DISPATCH_TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

function withDatabase(name: string): string {
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A new, migrated database with a unique name; `drop()` removes it. */
export async function createTestDatabase(label = 'test'): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `dispatch_${label}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE "${name}"`));
  const url = withDatabase(name);
  await applyMigrations(url, defaultMigrationsDir(), testSecretBox());
  return { url, name, drop: () => dropTestDatabase(name) };
}

export async function dropTestDatabase(name: string): Promise<void> {
  await admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}
