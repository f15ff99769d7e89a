// Creates the database if needed, applies the committed migrations in prisma/migrations, and
// encrypts with DISPATCH_ENCRYPTION_KEY any destination secret still in clear text (written
// before secrets were encrypted; without the key, such a secret stops it with a message).
// Usage: DATABASE_URL=... DISPATCH_ENCRYPTION_KEY=... npm run db:migrate
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

export async function migrate(databaseUrl, environment = process.env) {
  const { ensureDatabase, applyMigrations } = require(path.join(root, 'libs', 'db', 'dist', 'index.js'));
  const { loadEncryptionKeys } = require(path.join(root, 'libs', 'config', 'dist', 'index.js'));
  const { SecretBox } = require(path.join(root, 'libs', 'domain', 'dist', 'index.js'));
  const keys = loadEncryptionKeys(environment);
  await ensureDatabase(databaseUrl);
  return applyMigrations(databaseUrl, path.join(root, 'prisma', 'migrations'), keys ? new SecretBox(keys) : undefined);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const url = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch';
  try {
    const applied = await migrate(url);
    console.log(applied.length ? `Applied ${applied.join(', ')}` : 'The database is up to date.');
  } catch (error) {
    console.error(`Cannot migrate the database: ${error.message}`);
    process.exit(1);
  }
}
