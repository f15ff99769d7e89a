import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { encryptionKeyId, generateSigningSecret, SecretBox } from '@dispatch/domain';
import type { DestinationKind } from './kind';
import { destinationSettings, StoredDestination } from './settings';
import { keepMaskedSecrets, maskedConfig, MASKED, openConfig, sealConfig, sealStoredSecrets, StoredSecrets, storedConfigReader } from './stored-secrets';
import { webhookKind } from './webhook';

const AUTHORIZATION = 'Bearer auth-0123456789';
const COOKIE = 'session=cookie-0123456789';
const SIGNATURE_KEY = 'sig-0123456789';

/** A webhook config with every kind of credential: usual headers, one named in secretHeaders, and a plain header. */
const webhookConfig = () => ({
  url: 'https://receiver.test/hook',
  method: 'POST',
  headers: { Authorization: AUTHORIZATION, cookie: COOKIE, 'X-Signature-Key': SIGNATURE_KEY, 'x-team': 'blue' },
  secretHeaders: ['x-signature-key'],
});

/** A kind of another shape: credentials at fixed dotted paths (as an SMTP or SFTP kind would have). */
const mailKind: DestinationKind = {
  kind: 'mail',
  configSchema: z.unknown(),
  secretFields: ['auth.password', 'dkimKey'],
  signsWithSecret: false,
  endpoints: () => [],
  createSender: () => {
    throw new Error('not used');
  },
};

function setup() {
  const keys = { a: randomBytes(32), b: randomBytes(32) };
  return { sut: new SecretBox({ current: keys.a }), keys };
}

describe('credentials in a stored config', () => {
  it('seals every credential of a webhook config for its destination and path, and leaves the rest as it is', () => {
    const { sut } = setup();
    const sealed = sealConfig(webhookKind, webhookConfig(), sut, 'dst_A') as ReturnType<typeof webhookConfig>;
    expect(sealed).toEqual({
      ...webhookConfig(),
      headers: {
        Authorization: expect.stringMatching(/^sealed:v1:/),
        cookie: expect.stringMatching(/^sealed:v1:/),
        'X-Signature-Key': expect.stringMatching(/^sealed:v1:/),
        'x-team': 'blue',
      },
    });
    expect(JSON.stringify(sealed)).not.toMatch(/0123456789/);
    expect(openConfig(webhookKind, sealed, sut, 'dst_A')).toEqual(webhookConfig());
    expect(() => openConfig(webhookKind, sealed, sut, 'dst_B')).toThrow(/^destination dst_B: cannot read its config\.headers\.Authorization: it does not decrypt/);
  });

  it('seals the dotted paths a kind declares in secretFields, when it has no secretPaths', () => {
    const { sut } = setup();
    const config = { host: 'mail.test', auth: { user: 'ops', password: 'pw-0123456789' }, dkimKey: 'key-0123456789' };
    const sealed = sealConfig(mailKind, config, sut, 'dst_M');
    expect(sealed).toEqual({ host: 'mail.test', auth: { user: 'ops', password: expect.stringMatching(/^sealed:v1:/) }, dkimKey: expect.stringMatching(/^sealed:v1:/) });
    expect(maskedConfig(mailKind, sealed)).toEqual({ host: 'mail.test', auth: { user: 'ops', password: MASKED }, dkimKey: MASKED });
    expect(openConfig(mailKind, sealed, sut, 'dst_M')).toEqual(config);
  });

  it('masks every credential for answers, and any encrypted value even of a kind this deployment lacks', () => {
    const { sut } = setup();
    const sealed = sealConfig(webhookKind, webhookConfig(), sut, 'dst_A');
    const masked = { ...webhookConfig(), headers: { Authorization: MASKED, cookie: MASKED, 'X-Signature-Key': MASKED, 'x-team': 'blue' } };
    expect(maskedConfig(webhookKind, sealed)).toEqual(masked);
    // A row not yet migrated shows no credential either.
    expect(maskedConfig(webhookKind, webhookConfig())).toEqual(masked);
    expect(maskedConfig(undefined, sealed)).toEqual(masked);
  });

  it('keeps the stored value of each credential sent back as "********" (a header in any case), and takes new ones as sent', () => {
    const sent = { url: 'https://receiver.test/moved', headers: { authorization: MASKED, cookie: 'session=new', 'x-team': MASKED } };
    const { config, missing } = keepMaskedSecrets(webhookKind, sent, webhookConfig(), (value) => value);
    expect(missing).toEqual([]);
    // A plain header sent as "********" is that text: a stored credential never moves to a field shown in answers.
    expect(config).toEqual({ url: 'https://receiver.test/moved', headers: { authorization: AUTHORIZATION, cookie: 'session=new', 'x-team': MASKED } });
  });

  it('opens only the stored values it keeps, told the path each is stored at', () => {
    const { sut } = setup();
    const stored = sealConfig(webhookKind, webhookConfig(), sut, 'dst_A');
    const read = jest.fn(storedConfigReader(sut, 'dst_A'));
    const sent = { url: 'https://receiver.test/hook', headers: { authorization: MASKED, cookie: 'session=new' } };
    expect(keepMaskedSecrets(webhookKind, sent, stored, read).config).toEqual({ ...sent, headers: { authorization: AUTHORIZATION, cookie: 'session=new' } });
    expect(read).toHaveBeenCalledTimes(1);
    expect(read).toHaveBeenCalledWith(expect.stringMatching(/^sealed:v1:/), ['headers', 'Authorization']);
  });

  it('keeps a stored plain header that becomes secret, as it was', () => {
    const { sut } = setup();
    const stored = sealConfig(webhookKind, webhookConfig(), sut, 'dst_A');
    const sent = { url: 'https://receiver.test/hook', headers: { 'x-team': MASKED }, secretHeaders: ['x-team'] };
    expect(keepMaskedSecrets(webhookKind, sent, stored, storedConfigReader(sut, 'dst_A')).config).toEqual({ ...sent, headers: { 'x-team': 'blue' } });
  });

  it('names a credential sent as "********" when there is no stored value to keep', () => {
    const sent = { url: 'https://receiver.test/hook', headers: { 'x-api-key': MASKED } };
    expect(keepMaskedSecrets(webhookKind, sent, webhookConfig(), (value) => value).missing).toEqual(['headers.x-api-key']);
  });
});

describe('sealing stored destinations (the migration and the key rotation)', () => {
  const stored = (): StoredSecrets => ({ id: 'dst_A', kind: 'webhook', config: webhookConfig(), secret: 'whsec_current', previousSecret: 'whsec_previous' });

  it('encrypts every value still in clear text, then finds nothing more to do', () => {
    const { sut } = setup();
    const first = sealStoredSecrets(stored(), webhookKind, sut, { rotate: false });
    expect(first).toMatchObject({ encrypted: 5, reencrypted: 0 });
    const sealed = first.sealed as StoredSecrets;
    expect(JSON.stringify(sealed)).not.toMatch(/0123456789|whsec_/);
    expect(sealStoredSecrets(sealed, webhookKind, sut, { rotate: false })).toEqual({ sealed: null, encrypted: 0, reencrypted: 0 });
    expect(sealStoredSecrets(sealed, webhookKind, sut, { rotate: true })).toEqual({ sealed: null, encrypted: 0, reencrypted: 0 });
  });

  it('with rotate, seals again with the current key every value sealed with the previous one', () => {
    const { keys } = setup();
    const underA = sealStoredSecrets(stored(), webhookKind, new SecretBox({ current: keys.a }), { rotate: false }).sealed as StoredSecrets;
    const sut = new SecretBox({ current: keys.b, previous: keys.a });
    expect(sealStoredSecrets(underA, webhookKind, sut, { rotate: false }).sealed).toBeNull();
    const rotated = sealStoredSecrets(underA, webhookKind, sut, { rotate: true });
    expect(rotated).toMatchObject({ encrypted: 0, reencrypted: 5 });
    const onlyB = new SecretBox({ current: keys.b });
    const underB = rotated.sealed as StoredSecrets;
    expect(SecretBox.keyIdOf(underB.secret as string)).toBe(encryptionKeyId(keys.b));
    expect(openConfig(webhookKind, underB.config, onlyB, 'dst_A')).toEqual(webhookConfig());
  });

  it('seals the signing secrets of a kind this deployment lacks, leaving its config', () => {
    const { sut } = setup();
    const result = sealStoredSecrets({ ...stored(), kind: 'gone' }, undefined, sut, { rotate: false });
    expect(result.encrypted).toBe(2);
    expect(result.sealed?.config).toEqual(webhookConfig());
  });
});

describe('destinationSettings', () => {
  const secret = generateSigningSecret();
  const previous = generateSigningSecret();

  function storedDestination(box: SecretBox, overrides: Partial<StoredDestination> = {}): StoredDestination {
    const sealed = sealStoredSecrets({ id: 'dst_A', kind: 'webhook', config: webhookConfig(), secret, previousSecret: previous }, webhookKind, box, { rotate: false })
      .sealed as StoredSecrets;
    return {
      ...sealed,
      organizationId: 'org_A',
      previousSecretExpiresAt: new Date(Date.now() + 60_000),
      enabled: true,
      paused: false,
      ordering: 'none',
      rateLimitMax: null,
      rateLimitDurationMs: null,
      rateLimitAdaptive: false,
      circuitBreaker: null,
      retryPolicy: {},
      ...overrides,
    };
  }

  it('opens the config and both signing secrets for the sender', () => {
    const { sut } = setup();
    const settings = destinationSettings(storedDestination(sut), sut);
    expect(settings.config).toEqual(webhookConfig());
    expect(settings.signing).toEqual({ secret, previousSecret: previous, previousSecretExpiresAt: expect.any(Date) });
  });

  it('does not open an expired previous secret', () => {
    const { sut } = setup();
    expect(destinationSettings(storedDestination(sut, { previousSecretExpiresAt: new Date(Date.now() - 1) }), sut).signing.previousSecret).toBeNull();
  });

  it('fails naming the destination, the field and the key when it does not hold the key; never the value', () => {
    const { sut, keys } = setup();
    const error = (() => {
      try {
        destinationSettings(storedDestination(sut), new SecretBox({ current: keys.b }));
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('it opened');
    })();
    expect(error.message).toMatch(
      new RegExp(
        `^destination dst_A: cannot read its config\\.headers\\.Authorization: it is encrypted with key ${encryptionKeyId(keys.a)}, which this process does not hold`,
      ),
    );
    expect(error.message).not.toMatch(/0123456789|whsec_/);
  });

  it('refuses a secret still in clear text', () => {
    const { sut } = setup();
    expect(() => destinationSettings(storedDestination(sut, { secret: 'whsec_plain' }), sut)).toThrow(
      /^destination dst_A: cannot read its secret: the value is not encrypted/,
    );
  });
});
