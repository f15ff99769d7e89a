// Creates the database if needed and applies the committed migrations in prisma/migrations.
// Usage: DATABASE_URL=... npm run db:migrate
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

export async function migrate(databaseUrl) {
  const { ensureDatabase, applyMigrations } = require(path.join(root, 'libs', 'db', 'dist', 'index.js'));
  await ensureDatabase(databaseUrl);
  return applyMigrations(databaseUrl, path.join(root, 'prisma', 'migrations'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch';
  const applied = await migrate(url);
  console.log(applied.length ? `Applied ${applied.join(', ')}` : 'The database is up to date.');
}
