// Writes prisma/migrations/<timestamp>_<name>/migration.sql: the SQL that takes a database
// with every committed migration applied to what prisma/schema.prisma describes.
// Usage: npm run db:new-migration -- <name>
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('Usage: npm run db:new-migration -- <name in lower_snake_case>');
  process.exit(2);
}
const base = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const scratch = `dispatch_migration_${process.pid}`;
const adminUrl = new URL(base);
adminUrl.pathname = '/postgres';
const scratchUrl = new URL(base);
scratchUrl.pathname = `/${scratch}`;

const { applyMigrations } = await import(path.join(root, 'libs', 'db', 'dist', 'migrations.js'));
const admin = new pg.Client({ connectionString: adminUrl.toString() });
await admin.connect();
await admin.query(`CREATE DATABASE "${scratch}"`);
try {
  await applyMigrations(scratchUrl.toString(), path.join(root, 'prisma', 'migrations'));
  const output = execFileSync(
    process.execPath,
    [path.join(root, 'scripts', 'prisma.mjs'), 'migrate', 'diff', '--from-url', scratchUrl.toString(), '--to-schema-datamodel', 'prisma/schema.prisma', '--script'],
    { cwd: root, env: { ...process.env, DATABASE_URL: scratchUrl.toString() }, encoding: 'utf8' },
  );
  const sql = output
    .split('\n')
    .filter((line) => !line.startsWith('Loaded Prisma config'))
    .join('\n')
    .trim();
  if (sql === '' || sql === '-- This is an empty migration.') {
    console.log('prisma/schema.prisma matches the committed migrations; nothing to write.');
  } else {
    const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
    const dir = path.join(root, 'prisma', 'migrations', `${stamp}_${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'migration.sql'), sql + '\n');
    console.log(`Wrote ${path.relative(root, dir)}/migration.sql`);
  }
} finally {
  await admin.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
  await admin.end();
}
