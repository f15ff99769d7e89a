// npm test: builds everything (the end-to-end and browser tests run the built apps), then
// runs every jest test and ends with one plain line: "tests: N passed, N failed".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const dir = mkdtempSync(path.join(os.tmpdir(), 'dispatch-jest-'));
const report = path.join(dir, 'report.json');
const jest = spawnSync(process.execPath, [path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--json', `--outputFile=${report}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
let summary = null;
try {
  summary = JSON.parse(readFileSync(report, 'utf8'));
} catch {
  // jest did not get as far as writing a report
}
rmSync(dir, { recursive: true, force: true });
if (summary) console.log(`tests: ${summary.numPassedTests} passed, ${summary.numFailedTests + summary.numRuntimeErrorTestSuites} failed`);
process.exit(jest.status ?? 1);
