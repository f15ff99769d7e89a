// npm run secrets:rotate: encrypts every destination secret in the database again with
// DISPATCH_ENCRYPTION_KEY, reading those encrypted with the key before it from
// DISPATCH_ENCRYPTION_KEY_PREVIOUS (and encrypting any still in clear text). Safe to run again,
// and while the API and the worker run. Prints what it did.
// Usage: DATABASE_URL=... DISPATCH_ENCRYPTION_KEY=<new> DISPATCH_ENCRYPTION_KEY_PREVIOUS=<old> npm run secrets:rotate
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const { rotateSecretsAtRest } = require(path.join(root, 'libs', 'db', 'dist', 'index.js'));
const { loadEncryptionKeys } = require(path.join(root, 'libs', 'config', 'dist', 'index.js'));
const { SecretBox } = require(path.join(root, 'libs', 'domain', 'dist', 'index.js'));

try {
  const keys = loadEncryptionKeys(process.env);
  if (!keys)
    throw new Error('DISPATCH_ENCRYPTION_KEY is required: the key to encrypt with (and DISPATCH_ENCRYPTION_KEY_PREVIOUS, the key the secrets are encrypted with now)');
  const box = new SecretBox(keys);
  const pass = await rotateSecretsAtRest(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/dispatch', box);
  console.log(`Destinations: ${pass.destinations}`);
  console.log(`Secrets encrypted again with key ${box.keyId}: ${pass.reencrypted}`);
  console.log(`Secrets found in clear text and encrypted: ${pass.encrypted}`);
  console.log('Every secret is now encrypted with DISPATCH_ENCRYPTION_KEY: DISPATCH_ENCRYPTION_KEY_PREVIOUS can be removed.');
} catch (error) {
  console.error(`Cannot rotate the secrets: ${error.message}`);
  process.exit(1);
}
