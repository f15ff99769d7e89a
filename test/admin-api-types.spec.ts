import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { useSystem } from './system';

const root = path.resolve(__dirname, '..');
const TYPES_FILE = path.join(root, 'apps', 'admin', 'src', 'api-schema.ts');

/**
 * The admin app's API types (apps/admin/src/api-schema.ts) are generated from the OpenAPI document
 * the API serves at /docs-json (`npm run api-types`): they never drift from the API's code.
 */
describe('the admin app’s API types', () => {
  const system = useSystem({ worker: false });

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
});
