import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { applyMigrations, defaultMigrationsDir, ensureDatabase } from '@dispatch/db';
import { dropTestDatabase, POSTGRES_URL } from '@dispatch/testing';

/** `npm start` and `npm run db:migrate` apply the committed migrations as the README says. */
describe('the migration runner', () => {
  const created: string[] = [];
  const dirs: string[] = [];

  async function emptyDatabase(): Promise<string> {
    const name = `dispatch_migrations_${randomBytes(4).toString('hex')}`;
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${name}`;
    await ensureDatabase(url.toString());
    created.push(name);
    return url.toString();
  }

  async function query<T>(url: string, sql: string): Promise<T[]> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  afterAll(async () => {
    for (const name of created) await dropTestDatabase(name);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('applies every migration once when two processes start together, and records each as prisma migrate does', async () => {
    const url = await emptyDatabase();
    const committed = readdirSync(defaultMigrationsDir(), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    const [first, second] = await Promise.all([applyMigrations(url), applyMigrations(url)]);
    expect([...first, ...second].sort()).toEqual(committed);
    expect(await applyMigrations(url)).toEqual([]);

    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      url,
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name',
    );
    expect(rows.map((row) => row.migration_name)).toEqual(committed);
    for (const row of rows) {
      const sql = readFileSync(path.join(defaultMigrationsDir(), row.migration_name, 'migration.sql'), 'utf8');
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at).not.toBeNull();
    }
  });

  it('applies each migration in its own transaction: a failing one leaves nothing of itself, and one changed after it was applied is refused', async () => {
    const url = await emptyDatabase();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dispatch-migrations-'));
    dirs.push(dir);
    const write = (name: string, sql: string) => {
      mkdirSync(path.join(dir, name), { recursive: true });
      writeFileSync(path.join(dir, name, 'migration.sql'), sql);
    };
    write('1_good', 'CREATE TABLE kept (id int);');
    write('2_bad', 'CREATE TABLE half_done (id int); SELECT no_such_function();');

    await expect(applyMigrations(url, dir)).rejects.toThrow(/Migration 2_bad failed: .*no_such_function/);
    const tables = await query<{ tablename: string }>(url, "SELECT tablename FROM pg_tables WHERE tablename IN ('kept', 'half_done')");
    expect(tables.map((row) => row.tablename)).toEqual(['kept']);
    expect((await query<{ migration_name: string }>(url, 'SELECT migration_name FROM "_prisma_migrations"')).map((row) => row.migration_name)).toEqual(['1_good']);

    write('1_good', 'CREATE TABLE kept (id int, changed int);');
    await expect(applyMigrations(url, dir)).rejects.toThrow('Migration 1_good was changed after it was applied');
  });
});
