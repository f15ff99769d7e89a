import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { applyMigrations, defaultMigrationsDir, ensureDatabase } from '@dispatch/db';
import { dropTestDatabase, POSTGRES_URL } from '@dispatch/testing';

const MIGRATION = '20261201193339_operator_events';

/**
 * The migration that brings failure categories gives the dead letters already there the
 * category of their last attempt, by the rules the worker follows (libs/domain/src/failure-category.ts).
 */
describe('the failure category backfill', () => {
  const name = `dispatch_backfill_${randomBytes(4).toString('hex')}`;
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  let before: string;
  let client: Client;

  beforeAll(async () => {
    // Every migration before it, applied from a copy of the folder that stops there.
    before = mkdtempSync(path.join(os.tmpdir(), 'dispatch-backfill-'));
    for (const entry of readdirSync(defaultMigrationsDir()).filter((one) => one < MIGRATION)) {
      cpSync(path.join(defaultMigrationsDir(), entry), path.join(before, entry), { recursive: true });
    }
    await ensureDatabase(url.toString());
    await applyMigrations(url.toString(), before);
    client = new Client({ connectionString: url.toString() });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await dropTestDatabase(name);
    rmSync(before, { recursive: true, force: true });
  });

  it('categorizes each failed delivery from its last attempt, and leaves the others without one', async () => {
    await client.query(`
      INSERT INTO organizations (id, name) VALUES ('org_b', 'backfill');
      INSERT INTO destinations (id, organization_id, name, kind, config, event_types, retry_policy, updated_at)
        VALUES ('dst_b', 'org_b', 'hook', 'webhook', '{}', '{*}', '{}', now());
      INSERT INTO events (organization_id, id, type, data) SELECT 'org_b', 'evt_' || i, 't', '{}' FROM generate_series(1, 9) AS i;
      INSERT INTO deliveries (id, organization_id, event_id, destination_id, status, last_error) VALUES
        ('dlv_404', 'org_b', 'evt_1', 'dst_b', 'failed', 'HTTP 404, not retryable'),
        ('dlv_503', 'org_b', 'evt_2', 'dst_b', 'failed', 'HTTP 503; gave up after 3 attempts'),
        ('dlv_egress', 'org_b', 'evt_3', 'dst_b', 'failed', 'connection error (EGRESS_NOT_ALLOWED): localhost resolves to an address that is not allowed; gave up after 1 attempt'),
        ('dlv_timeout', 'org_b', 'evt_4', 'dst_b', 'failed', 'timeout (UND_ERR_HEADERS_TIMEOUT): Headers Timeout Error; gave up after 5 attempts'),
        ('dlv_template', 'org_b', 'evt_5', 'dst_b', 'failed', 'topic: {data.region} is not in the event'),
        ('dlv_redirect', 'org_b', 'evt_6', 'dst_b', 'failed', 'redirect 302 (not followed); gave up after 1 attempt'),
        ('dlv_gone', 'org_b', 'evt_7', 'dst_b', 'failed', 'receiver answered 410 Gone'),
        ('dlv_retrying', 'org_b', 'evt_8', 'dst_b', 'retrying', 'HTTP 500'),
        ('dlv_delivered', 'org_b', 'evt_9', 'dst_b', 'delivered', null);
      INSERT INTO attempts (id, delivery_id, number, trigger, started_at, duration_ms, outcome, status_code, error) VALUES
        ('att_1', 'dlv_404', 1, 'scheduled', now(), 5, 'retry', 500, null),
        ('att_2', 'dlv_404', 2, 'scheduled', now(), 5, 'failed', 404, null),
        ('att_3', 'dlv_503', 1, 'scheduled', now(), 5, 'failed', 503, null),
        ('att_4', 'dlv_egress', 1, 'scheduled', now(), 1, 'failed', null, 'connection error (EGRESS_NOT_ALLOWED): localhost resolves to an address that is not allowed: …'),
        ('att_5', 'dlv_timeout', 5, 'scheduled', now(), 15000, 'failed', null, 'timeout (UND_ERR_HEADERS_TIMEOUT): Headers Timeout Error'),
        ('att_6', 'dlv_template', 1, 'scheduled', now(), 1, 'failed', null, 'topic: {data.region} is not in the event'),
        ('att_7', 'dlv_redirect', 1, 'scheduled', now(), 3, 'failed', 302, null),
        ('att_8', 'dlv_gone', 1, 'scheduled', now(), 3, 'gone', 410, null),
        ('att_9', 'dlv_retrying', 1, 'scheduled', now(), 3, 'retry', 500, null),
        ('att_10', 'dlv_delivered', 1, 'scheduled', now(), 3, 'delivered', 200, null);
    `);

    expect(await applyMigrations(url.toString())).toEqual([MIGRATION, ...laterThan(MIGRATION)]);

    const rows = (await client.query<{ id: string; failure_category: string | null }>('SELECT id, failure_category FROM deliveries ORDER BY id')).rows;
    expect(Object.fromEntries(rows.map((row) => [row.id, row.failure_category]))).toEqual({
      dlv_404: 'receiver_4xx',
      dlv_503: 'receiver_5xx',
      dlv_egress: 'egress_refused',
      dlv_timeout: 'timeout_or_network',
      dlv_template: 'configuration',
      dlv_redirect: 'configuration',
      dlv_gone: 'receiver_4xx',
      dlv_retrying: null,
      dlv_delivered: null,
    });
  });
});

/** The migrations committed after `name`, in order. */
function laterThan(name: string): string[] {
  return readdirSync(defaultMigrationsDir(), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name > name)
    .map((entry) => entry.name)
    .sort();
}
