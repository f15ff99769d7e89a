import { utils, type ParsedKey } from 'ssh2';
import { sftpConfigSchema } from './config';

/** The issues zod finds in a config: path and message. */
function problems(config: Record<string, unknown>): { path: string; message: string }[] {
  const result = sftpConfigSchema.safeParse(config);
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

const VALID = { host: 'files.example', username: 'dispatch', password: 'pw', directory: '/in' };

describe('sftp config', () => {
  it('takes the contract shape, with port 22, directories created, mode 0640, no trust on first use and {event.id}.json by default', () => {
    expect(sftpConfigSchema.parse(VALID)).toEqual({ ...VALID, port: 22, createDirectories: true, mode: '0640', trustOnFirstUse: false, fileName: '{event.id}.json' });
  });

  it('reads a host key fingerprint as OpenSSH prints it, with or without SHA256: and padding, and keeps it as OpenSSH prints it', () => {
    const bare = 'uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s';
    for (const given of [`SHA256:${bare}`, bare, `${bare}=`]) expect(sftpConfigSchema.parse({ ...VALID, hostKeySha256: given }).hostKeySha256).toBe(`SHA256:${bare}`);
    expect(problems({ ...VALID, hostKeySha256: 'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48' }).map((problem) => problem.path)).toEqual(['hostKeySha256']);
  });

  it('takes a private key (encrypted with its passphrase) instead of a password, and refuses one SSH cannot read without repeating it', () => {
    const plain = utils.generateKeyPairSync('ed25519');
    expect(problems({ ...VALID, password: undefined, privateKey: plain.private })).toEqual([]);
    const locked = utils.generateKeyPairSync('ed25519', { passphrase: 'open sesame', cipher: 'aes256-ctr', rounds: 16 });
    expect(problems({ ...VALID, password: undefined, privateKey: locked.private, passphrase: 'open sesame' })).toEqual([]);
    expect(problems({ ...VALID, password: undefined, privateKey: locked.private })).toEqual([
      { path: 'privateKey', message: expect.stringMatching(/^is not a private key SSH can use: .*passphrase/) },
    ]);
    expect(problems({ ...VALID, privateKey: plain.public })).toEqual([{ path: 'privateKey', message: 'is not a private key SSH can use: it is a public key' }]);
    const garbage = problems({ ...VALID, privateKey: 'secret-garbage-123' });
    expect(garbage.map((problem) => problem.path)).toEqual(['privateKey']);
    expect(JSON.stringify(garbage)).not.toContain('secret-garbage-123');
    // Pasted into a one-line field, which drops its line breaks: read all the same.
    const oneLine = plain.private.replace(/\r?\n/g, '');
    expect(problems({ ...VALID, privateKey: oneLine })).toEqual([]);
    const restored = utils.parseKey(sftpConfigSchema.parse({ ...VALID, privateKey: oneLine }).privateKey!) as ParsedKey;
    expect(restored.getPublicSSH()).toEqual((utils.parseKey(plain.private) as ParsedKey).getPublicSSH());
    // Sent back as "********" (keep the stored key): not read again.
    expect(problems({ ...VALID, privateKey: '********', passphrase: '********' })).toEqual([]);
  });

  it('names each bad field: no credentials, the host, port, directory, mode, templates and unknown fields', () => {
    expect(problems({ host: 'files.example', username: 'u', directory: '/in' })).toEqual([{ path: 'password', message: 'give password or privateKey (or both)' }]);
    expect(
      problems({ ...VALID, host: 'sftp://files.example/x', port: 0, directory: 'in/{event.kind}', mode: '0999', fileName: 'a/b', extra: 1 }).map(
        (problem) => problem.path,
      ),
    ).toEqual(['host', 'port', 'directory', 'directory', 'mode', 'fileName', '']);
    expect(problems({ ...VALID, directory: '/in/../etc' })).toEqual([{ path: 'directory', message: 'directory must not have "." or ".." segments' }]);
    expect(problems({ ...VALID, directory: '/in/{data.region}/{event.type}', host: '[::1]' })).toEqual([]);
  });
});
