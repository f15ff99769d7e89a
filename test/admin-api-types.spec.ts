import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createWebhook, sendEvent, waitForDelivery } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

const root = path.resolve(__dirname, '..');
const TYPES_FILE = path.join(root, 'apps', 'admin', 'src', 'api-schema.ts');

type Schema = {
  type?: string | string[];
  nullable?: boolean;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  oneOf?: Schema[];
};

/**
 * Where `value` is not what `schema` (an answer's schema in the OpenAPI document) says, as
 * `path: problem` lines. A schema naming properties without a `required` list is read as the
 * admin app's types read it (scripts/api-types.mjs): every property is there. A property the
 * schema does not name is a problem too: the generated types would not know it.
 */
function mismatches(value: unknown, schema: Schema, at: string): string[] {
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) {
    const each = alternatives.map((alternative) => mismatches(value, alternative, at));
    return each.some((problems) => problems.length === 0) ? [] : [`${at}: none of anyOf fits (${each.map((problems) => problems[0]).join(' / ')})`];
  }
  if (value === null) return schema.nullable || [schema.type].flat().includes('null') || schema.type === undefined ? [] : [`${at}: null`];
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} is not in the enum`];
  const type = [schema.type].flat().find((candidate) => candidate !== 'null');
  const actual = Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (type === undefined) return [];
  if (type === 'number' ? actual !== 'integer' && actual !== 'number' : type !== actual) return [`${at}: a ${actual}, documented as ${type}`];
  if (type === 'array') return (value as unknown[]).flatMap((item, index) => (schema.items ? mismatches(item, schema.items, `${at}[${index}]`) : []));
  if (type !== 'object') return [];
  const record = value as Record<string, unknown>;
  const properties = schema.properties ?? {};
  const problems: string[] = [];
  for (const name of schema.required ?? Object.keys(properties)) if (!(name in record)) problems.push(`${at}.${name}: missing`);
  for (const [name, item] of Object.entries(record)) {
    if (properties[name]) problems.push(...mismatches(item, properties[name], `${at}.${name}`));
    else if (typeof schema.additionalProperties === 'object') problems.push(...mismatches(item, schema.additionalProperties, `${at}.${name}`));
    else if (schema.additionalProperties !== true && Object.keys(properties).length > 0) problems.push(`${at}.${name}: not documented`);
  }
  return problems;
}

/**
 * The admin app's API types (apps/admin/src/api-schema.ts) are generated from the OpenAPI document
 * the API serves at /docs-json (`npm run api-types`): they never drift from the API's code.
 */
describe('the admin app’s API types', () => {
  const system = useSystem();
  const receiver = useReceiver();

  it('are what the API serving /docs-json now generates (else: npm run api-types)', async () => {
    const docs = await system.client.get('/docs-json');
    expect(docs.status).toBe(200);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dispatch-api-types-'));
    try {
      const document = path.join(dir, 'openapi.json');
      writeFileSync(document, JSON.stringify(docs.body));
      const { stdout } = await promisify(execFile)(process.execPath, [path.join(root, 'scripts', 'api-types.mjs'), '--document', document], {
        cwd: root,
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(stdout.length).toBeGreaterThan(0);
      expect(stdout).toContain("'/v1/events/{id}'");
      // A plain equality would print both files whole: name the first line that differs instead.
      const committed = readFileSync(TYPES_FILE, 'utf8').split('\n');
      const generated = stdout.split('\n');
      const first = generated.findIndex((line, index) => line !== committed[index]);
      const difference =
        first === -1 && committed.length === generated.length
          ? null
          : `apps/admin/src/api-schema.ts differs from what the API generates at line ${first === -1 ? generated.length + 1 : first + 1}:\n  committed: ${committed[first] ?? '(end of file)'}\n  generated: ${generated[first] ?? '(end of file)'}\nRun npm run api-types.`;
      expect(difference).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('describe the answers the API gives: each one the admin app reads is what /docs-json says', async () => {
    receiver.answer(() => ({ status: 422, body: 'no' }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { name: 'typed', retryPolicy: { maxAttempts: 1 } });
    const accepted = await sendEvent(system.client, { type: 'typed.check', data: { n: 1 }, correlationId: 'typed-1' });
    const delivery = await waitForDelivery(system.client, accepted.deliveries[0].id, 'failed');
    const replay = await system.client.post('/v1/deliveries/retry', { status: 'failed', dryRun: false });
    expect(replay.status).toBe(202);
    const preview = await system.client.post('/v1/deliveries/retry', { status: 'failed', failureCategory: 'receiver_4xx', dryRun: true });
    const created = await system.client.post('/v1/api-keys', { name: 'typed', role: 'viewer' });
    const document = (await system.client.get('/docs-json')).body;

    const answers: [string, string, number, { status: number; body: unknown }][] = [
      ['/v1/events', 'get', 200, await system.client.get('/v1/events?correlationId=typed-1')],
      ['/v1/events/{id}', 'get', 200, await system.client.get(`/v1/events/${accepted.id}`)],
      ['/v1/deliveries', 'get', 200, await system.client.get(`/v1/deliveries?destinationId=${destination.id}`)],
      ['/v1/deliveries/{id}', 'get', 200, await system.client.get(`/v1/deliveries/${delivery.id}`)],
      ['/v1/deliveries/retry', 'post', 202, replay],
      ['/v1/deliveries/retry', 'post', 200, preview],
      ['/v1/replays/{id}', 'get', 200, await system.client.get(`/v1/replays/${replay.body.replayId}`)],
      ['/v1/dead-letters/categories', 'get', 200, await system.client.get('/v1/dead-letters/categories')],
      ['/v1/audit-log', 'get', 200, await system.client.get('/v1/audit-log')],
      ['/v1/api-keys', 'get', 200, await system.client.get('/v1/api-keys')],
      ['/v1/api-keys', 'post', 201, created],
      ['/v1/organization', 'get', 200, await system.client.get('/v1/organization')],
      ['/v1/alerts', 'get', 200, await system.client.get('/v1/alerts')],
      ['/v1/metrics/deliveries', 'get', 200, await system.client.get('/v1/metrics/deliveries')],
    ];
    const problems: string[] = [];
    for (const [route, method, status, answer] of answers) {
      const schema = document.paths[route]?.[method]?.responses?.[status]?.content?.['application/json']?.schema;
      if (answer.status !== status) problems.push(`${method.toUpperCase()} ${route}: answered ${answer.status}, not ${status}`);
      else if (!schema) problems.push(`${method.toUpperCase()} ${route}: no schema of its ${status} answer`);
      else problems.push(...mismatches(answer.body, schema, `${method.toUpperCase()} ${route} ${status}`));
    }
    // Something to check in every list: the event, its delivery and its attempt, the audit entries.
    expect(answers.map(([, , , answer]) => JSON.stringify(answer.body).length).every((length) => length > 2)).toBe(true);
    expect(problems).toEqual([]);
  });
});
