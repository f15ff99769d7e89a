// ESLint for apps, libs, test and scripts: the recommended JavaScript and typescript-eslint
// rules, React's hooks rules for the admin app, and the boundaries between projects.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const APPS = ['api', 'worker', 'admin'];
const LIBS = ['domain', 'db', 'queue', 'ingest', 'destinations', 'config', 'testing', 'telemetry'];

/** What a project may not import, besides what none may: an app, or another project's files by a path. */
const FORBIDDEN = {
  'libs/domain': { regex: '^@dispatch/', message: 'libs/domain holds pure rules and imports no other Dispatch project.' },
  'libs/destinations': { regex: '^@dispatch/db(/|$)', message: 'libs/destinations sends to destinations and never touches the database (@dispatch/db).' },
  'libs/telemetry': { regex: '^@dispatch/', message: 'libs/telemetry is what every project traces with; it imports no other Dispatch project.' },
};

const SOURCE = '{ts,tsx,js,mjs}';
const BY_PATH = 'Import another project by its package name (@dispatch/…), never by a path out of this one.';

/** no-restricted-imports for one project: a relative import may not climb out of the project (checked to 5 folders below src; deeper, it may not name apps/, libs/, src/ or dist/). */
function boundaries(project) {
  const [kind, name] = project.split('/');
  const named = [
    ...APPS.filter((app) => !(kind === 'apps' && app === name)).map((app) => ({
      regex: `^@dispatch/${app}(/|$)`,
      message: `@dispatch/${app} is an app; no other project imports it.`,
    })),
    ...(FORBIDDEN[project] ? [FORBIDDEN[project]] : []),
  ];
  const rule = (files, byPath) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns: [...named, { regex: byPath, message: BY_PATH }] }] } });
  const climbs = (levels) => `^(\\./)?(\\.\\./){${levels},}`;
  return [
    rule([`${project}/**/*.${SOURCE}`], '^(\\.\\./)+(.*/)?(apps|libs|src|dist)(/|$)'),
    rule([`${project}/*.${SOURCE}`], climbs(1)),
    ...[0, 1, 2, 3, 4, 5].map((depth) => rule([`${project}/src/${'*/'.repeat(depth)}*.${SOURCE}`], climbs(depth + 2))),
  ];
}

export default defineConfig(
  { ignores: ['**/dist/', '**/node_modules/', 'libs/db/generated/', '.nx/', 'coverage/', '.dispatch/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      // A name starting with _ is unused on purpose: a parameter a signature needs, a property left out of a rest (as tsc's noUnusedParameters).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  { files: ['scripts/**/*.mjs'], languageOptions: { globals: globals.node } },
  {
    // The rules of hooks, without the React Compiler's rules (the app does not use the compiler, and they cost more than the rest of the lint together).
    files: ['apps/admin/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: globals.browser },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'warn' },
  },
  {
    files: ['libs/testing/src/api-client.ts'],
    // Json is `any` on purpose: the API's answers have many shapes, and tests read them loosely.
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  ...[...APPS.map((app) => `apps/${app}`), ...LIBS.map((lib) => `libs/${lib}`)].flatMap(boundaries),
);
