import { UndeliverableFileError } from '../files/delivered-file';
import { TemplateError } from '../messages/templates';
import { HostKeyRefusedError, HostKeys } from './host-key';
import { DirectoryError, sftpFailure, SftpOperationError } from './verdict';

/** Errors as ssh2 and ssh2-sftp-client report them. */
const ssh2 = {
  login: Object.assign(new Error('All configured authentication methods failed'), { level: 'client-authentication' }),
  handshakeTimeout: Object.assign(new Error('Timed out while waiting for handshake'), { level: 'client-timeout' }),
  refused: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:2222'), { level: 'client-socket', code: 'ECONNREFUSED' }),
  lost: new Error('Connection lost before handshake'),
  status: (code: number, message: string) => Object.assign(new Error(`_put: Write stream error: ${message} /in/.a.part`), { code, custom: true }),
};

describe('what an SFTP failure means', () => {
  const sut = (error: unknown) => sftpFailure(error, 'dispatch');

  it('fails for good on a refused login, a bad private key, a refused host key and what the event cannot fill', () => {
    expect(sut(ssh2.login)).toEqual({
      verdict: 'permanent',
      error: 'the server refused the credentials of user "dispatch": All configured authentication methods failed',
    });
    expect(sut(new Error('Cannot parse privateKey: Unsupported key format'))).toEqual({
      verdict: 'permanent',
      error: 'privateKey: Cannot parse privateKey: Unsupported key format',
    });
    expect(sut(new HostKeyRefusedError('SHA256:seen', null, 'files.example'))).toMatchObject({ verdict: 'permanent' });
    expect(sut(new TemplateError("the event's data has no value at {data.region}"))).toEqual({
      verdict: 'permanent',
      error: "directory: the event's data has no value at {data.region}",
    });
    expect(sut(new DirectoryError('directory "/in/.." must not have "." or ".." segments'))).toMatchObject({ verdict: 'permanent' });
    expect(sut(new UndeliverableFileError('file fil_x does not exist'))).toMatchObject({ verdict: 'permanent' });
  });

  it('fails for good on a missing path, permission denied and an unsupported operation; retries a failure without a reason (a full disk)', () => {
    const step = (code: number, message: string) => sut(new SftpOperationError('write', '/in/.a.part', ssh2.status(code, message), false));
    expect(step(2, 'No such file')).toEqual({ verdict: 'permanent', statusCode: 2, error: 'write /in/.a.part: no such file or directory' });
    expect(step(3, 'Permission denied')).toEqual({ verdict: 'permanent', statusCode: 3, error: 'write /in/.a.part: permission denied' });
    expect(step(8, 'Operation unsupported')).toMatchObject({ verdict: 'permanent', statusCode: 8 });
    expect(step(4, 'Failure')).toEqual({
      verdict: 'transient',
      statusCode: 4,
      error: 'write /in/.a.part: the server failed without saying why (a full disk, among other causes)',
    });
    const mkdir = Object.assign(new Error('mkdir: Bad path: /locked/in permission denied'), { code: 'ERR_BAD_PATH' });
    expect(sut(new SftpOperationError('mkdir', '/locked/in', mkdir, false))).toEqual({
      verdict: 'permanent',
      statusCode: 3,
      error: 'mkdir /locked/in: permission denied',
    });
  });

  it('retries a refused or lost connection, a timeout and the egress guard', () => {
    expect(sut(ssh2.refused)).toEqual({ verdict: 'transient', error: 'connection error (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:2222' });
    expect(sut(ssh2.lost)).toEqual({ verdict: 'transient', error: 'connection error: Connection lost before handshake' });
    expect(sut(ssh2.handshakeTimeout)).toEqual({ verdict: 'transient', error: 'timeout: Timed out while waiting for handshake' });
    expect(sut(new DOMException('The attempt took longer than 100 ms', 'TimeoutError'))).toEqual({
      verdict: 'transient',
      error: 'timeout: The attempt took longer than 100 ms',
    });
    const reset = Object.assign(new Error('_put: Remote host has reset the connection'), { code: 'ECONNRESET' });
    expect(sut(new SftpOperationError('write', '/in/.a.part', reset, true))).toEqual({
      verdict: 'transient',
      error: 'write /in/.a.part: connection error (ECONNRESET): _put: Remote host has reset the connection',
    });
    const refusal = Object.assign(new Error('10.0.0.1 is not an allowed address: …'), { code: 'EGRESS_NOT_ALLOWED' });
    expect(sut(refusal)).toEqual({ verdict: 'transient', error: 'connection error (EGRESS_NOT_ALLOWED): 10.0.0.1 is not an allowed address: …' });
  });
});

describe('which host keys a destination trusts', () => {
  const key = (text: string) => Buffer.from(text);
  const config = { host: 'files.example', port: 22 };

  it('only the pinned one, when it pins one', () => {
    const sut = new HostKeys();
    const pinned = { ...config, hostKeySha256: 'SHA256:n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg', trustOnFirstUse: true };
    expect(sut.check('dst_1', pinned, key('test'))).toEqual({ firstUse: false });
    expect(() => sut.check('dst_1', pinned, key('other'))).toThrow(/showed host key SHA256:\S+, not the pinned SHA256:n4bQ/);
  });

  it('none unpinned, unless it trusts the first it sees: then that one alone, per destination, host and port', () => {
    const sut = new HostKeys();
    expect(() => sut.check('dst_1', { ...config, trustOnFirstUse: false }, key('a'))).toThrow(/which is not pinned/);
    const trusting = { ...config, trustOnFirstUse: true };
    expect(sut.check('dst_1', trusting, key('a'))).toEqual({ firstUse: true });
    expect(sut.check('dst_1', trusting, key('a'))).toEqual({ firstUse: false });
    expect(() => sut.check('dst_1', trusting, key('b'))).toThrow(/which was trusted on first use/);
    expect(sut.check('dst_2', trusting, key('b'))).toEqual({ firstUse: true });
    expect(sut.check('dst_1', { ...trusting, port: 2222 }, key('b'))).toEqual({ firstUse: true });
  });
});
