// Writes prisma/migrations/<timestamp>_<name>/migration.sql: the SQL that takes the schema of
// the latest migration (the schema.prisma kept beside it) to prisma/schema.prisma. Then checks
// that every migration applies to a scratch database, and drops it.
// Usage: npm run db:new-migration -- <name>
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const migrations = path.join(root, 'prisma', 'migrations');
const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('Usage: npm run db:new-migration -- <name in lower_snake_case>');
  process.exit(2);
}

const latest = readdirSync(migrations)
  .filter((entry) => existsSync(path.join(migrations, entry, 'schema.prisma')))
  .sort()
  .at(-1);
const from = latest ? ['--from-schema-datamodel', path.join(migrations, latest, 'schema.prisma')] : ['--from-empty'];
const output = execFileSync(
  process.execPath,
  [path.join(root, 'scripts', 'prisma.mjs'), 'migrate', 'diff', ...from, '--to-schema-datamodel', path.join(root, 'prisma', 'schema.prisma'), '--script'],
  { cwd: root, encoding: 'utf8' },
);
const sql = output
  .split('\n')
  .filter((line) => !line.startsWith('Loaded Prisma config'))
  .join('\n')
  .trim();
if (sql === '' || sql === '-- This is an empty migration.') {
  console.log(`prisma/schema.prisma matches the latest migration (${latest}); nothing to write.`);
  process.exit(0);
}

const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
const dir = path.join(migrations, `${stamp}_${name}`);
mkdirSync(dir, { recursive: true });
writeFileSync(path.join(dir, 'migration.sql'), `${sql}\n`);
copyFileSync(path.join(root, 'prisma', 'schema.prisma'), path.join(dir, 'schema.prisma'));

const base = new URL(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
const scratch = `dispatch_migration_${process.pid}`;
const adminUrl = new URL(base);
adminUrl.pathname = '/postgres';
const scratchUrl = new URL(base);
scratchUrl.pathname = `/${scratch}`;
const { applyMigrations } = await import(path.join(root, 'libs', 'db', 'dist', 'migrations.js'));
const admin = new pg.Client({ connectionString: adminUrl.toString() });
await admin.connect();
try {
  await admin.query(`CREATE DATABASE "${scratch}"`);
  await applyMigrations(scratchUrl.toString(), migrations);
  console.log(`Wrote ${path.relative(root, dir)}/migration.sql; all migrations apply cleanly. Review it, then run "npm install" to regenerate the client.`);
} catch (error) {
  rmSync(dir, { recursive: true, force: true });
  console.error(`The new migration does not apply: ${error.message}`);
  process.exitCode = 1;
} finally {
  await admin.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
  await admin.end();
}
