import { S3ServiceException } from '@aws-sdk/client-s3';
import { RestError } from '@azure/storage-blob';
import { UndeliverableFileError } from '../files';
import { DirectoryEscapeError } from './filesystem-directory';
import { ObjectKeyError, storageFailure } from './verdict';

const s3Error = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} happened` });
const errno = (code: string) => Object.assign(new Error(`${code}: it failed, '/srv/x'`), { code, syscall: 'open' });

describe('what a failed storage attempt means', () => {
  it('S3: a missing bucket and refused credentials are permanent; slow down, 5xx and 429 are transient', () => {
    for (const [name, status] of [
      ['NoSuchBucket', 404],
      ['AccessDenied', 403],
      ['InvalidAccessKeyId', 403],
      ['SignatureDoesNotMatch', 403],
    ] as const)
      expect(storageFailure(s3Error(name, status), 's3')).toEqual({
        verdict: 'permanent',
        statusCode: status,
        reason: `S3 ${name} (HTTP ${status})`,
        error: `S3 ${name} (HTTP ${status}): ${name} happened`,
      });
    expect(storageFailure(s3Error('SlowDown', 503), 's3').verdict).toBe('transient');
    expect(storageFailure(s3Error('SlowDown', 400), 's3').verdict).toBe('transient');
    expect(storageFailure(s3Error('InternalError', 500), 's3').verdict).toBe('transient');
    expect(storageFailure(s3Error('TooManyRequests', 429), 's3').verdict).toBe('transient');
    expect(storageFailure(s3Error('NotFound', 404), 's3').verdict).toBe('permanent');
  });

  it('Azure: an authorization failure or a missing container is permanent; 5xx and 429 are transient', () => {
    expect(storageFailure(new RestError('This request is not authorized.\nRequestId:1', { statusCode: 403, code: 'AuthorizationFailure' }), 'azure')).toEqual({
      verdict: 'permanent',
      statusCode: 403,
      reason: 'Azure AuthorizationFailure (HTTP 403)',
      error: 'Azure AuthorizationFailure (HTTP 403): This request is not authorized.',
    });
    expect(storageFailure(new RestError('gone', { statusCode: 404, code: 'ContainerNotFound' }), 'azure').verdict).toBe('permanent');
    expect(storageFailure(new RestError('busy', { statusCode: 503, code: 'ServerBusy' }), 'azure').verdict).toBe('transient');
    expect(storageFailure(new RestError('slow', { statusCode: 429 }), 'azure').verdict).toBe('transient');
  });

  it('the filesystem: a missing directory or no right to write is permanent, a full disk transient', () => {
    expect(storageFailure(errno('ENOENT'), 'filesystem')).toEqual({ verdict: 'permanent', error: "filesystem error (ENOENT): ENOENT: it failed, '/srv/x'" });
    expect(storageFailure(errno('EACCES'), 'filesystem').verdict).toBe('permanent');
    expect(storageFailure(errno('ENOSPC'), 'filesystem').verdict).toBe('transient');
    expect(storageFailure(new DirectoryEscapeError('../x'), 'filesystem').verdict).toBe('permanent');
  });

  it('a file that cannot be made or named is permanent; a network failure or timeout transient', () => {
    expect(storageFailure(new UndeliverableFileError('file fil_1 does not exist'), 's3').verdict).toBe('permanent');
    expect(storageFailure(new ObjectKeyError('object key "../x" has a "." or ".." segment'), 's3').verdict).toBe('permanent');
    expect(storageFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', syscall: 'connect' }), 's3')).toEqual({
      verdict: 'transient',
      error: 'connection error (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:9',
    });
    expect(storageFailure(new DOMException('The attempt took longer than 10 ms', 'TimeoutError'), 'azure')).toEqual({
      verdict: 'transient',
      error: 'timeout: The attempt took longer than 10 ms',
    });
  });
});
