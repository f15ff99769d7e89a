import { SecretBox } from '@dispatch/domain';

/**
 * The DISPATCH_ENCRYPTION_KEY of every test system (32 bytes in base64): fixed, so a test can
 * read what a system stored. Never a key for a real deployment.
 */
export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 'dispatch-test-key').toString('base64');

/** What a test system seals its secrets with. */
export function testSecretBox(): SecretBox {
  return new SecretBox({ current: Buffer.from(TEST_ENCRYPTION_KEY, 'base64') });
}
