import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import type { SecretBox } from '@dispatch/domain';
import { sealSecretsAtRest, SecretsPass } from './secrets-at-rest';

/** The advisory lock held while migrations or a pass over the stored secrets run. */
const MIGRATION_LOCK = 72707369;

/** Where the committed migrations live, found from this file in source or build. */
export function defaultMigrationsDir(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'prisma', 'migrations'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('prisma/migrations not found above ' + __dirname);
    dir = parent;
  }
  return path.join(dir, 'prisma', 'migrations');
}

/**
 * Applies the committed migrations in `prisma/migrations` that the database has not seen,
 * each in its own transaction, recording them in `_prisma_migrations` exactly as
 * `prisma migrate deploy` does (so `prisma migrate status` agrees). Then it encrypts with
 * `secrets` (DISPATCH_ENCRYPTION_KEY) every destination secret still in clear text, written
 * before secrets were encrypted; without `secrets`, clear text found is an error. An advisory
 * lock makes concurrent starts safe. Returns the names applied.
 */
export async function applyMigrations(databaseUrl: string, migrationsDir = defaultMigrationsDir(), secrets?: SecretBox): Promise<string[]> {
  const names = readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(migrationsDir, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort();
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
    const done = await client.query<{ migration_name: string; checksum: string }>(
      'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const known = new Map(done.rows.map((row) => [row.migration_name, row.checksum]));
    for (const name of names) {
      const sql = readFileSync(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const seen = known.get(name);
      if (seen !== undefined) {
        if (seen !== checksum) throw new Error(`Migration ${name} was changed after it was applied`);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
           VALUES ($1, $2, now(), $3, 1)`,
          [randomUUID(), checksum, name],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`Migration ${name} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(name);
    }
    if (await hasDestinations(client)) await sealSecretsAtRest(client, secrets, { rotate: false });
  } finally {
    await client.end();
  }
  return applied;
}

/**
 * Encrypts again with the current key of `secrets` every destination secret encrypted with
 * another (read with its previous key), and any still in clear text: `npm run secrets:rotate`.
 */
export async function rotateSecretsAtRest(databaseUrl: string, secrets: SecretBox): Promise<SecretsPass> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    return await sealSecretsAtRest(client, secrets, { rotate: true });
  } finally {
    await client.end();
  }
}

/** Whether the schema has a destinations table yet (a migrations directory of tests may not make one). */
async function hasDestinations(client: Client): Promise<boolean> {
  const found = await client.query<{ table: string | null }>(`SELECT to_regclass('destinations')::text AS table`);
  return found.rows[0].table !== null;
}

/** Creates the database named in `databaseUrl` when it does not exist yet. */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
