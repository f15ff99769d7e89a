import { S3ServiceException } from '@aws-sdk/client-s3';
import { RestError } from '@azure/storage-blob';
import type { SendResult } from '@dispatch/domain';
import { describeError, egressFailure } from '../connection-errors';
import { UndeliverableFileError } from '../files';
import { TemplateError } from '../messages';
import { DirectoryEscapeError } from './filesystem-directory';

/** A rendered prefix and file name that cannot name an object: the config or the event must change. */
export class ObjectKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ObjectKeyError';
  }
}

/** S3 error codes that will not change by trying again: the bucket, the credentials or the request is wrong. */
const S3_PERMANENT = new Set([
  'NoSuchBucket',
  'AccessDenied',
  'AllAccessDisabled',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'AuthorizationHeaderMalformed',
  'PermanentRedirect',
  'AccountProblem',
  'InvalidObjectState',
  'KeyTooLongError',
  'EntityTooLarge',
]);
/** S3 error codes that ask to wait, whatever their HTTP status. */
const S3_TRANSIENT = new Set(['SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'RequestTimeTooSkewed', 'OperationAborted']);

/** Filesystem errors that stay until someone changes the directory or its rights. */
const FILESYSTEM_PERMANENT = new Set(['ENOENT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);
/** Filesystem errors that may clear up (a full disk, too many open files, a busy file). */
const FILESYSTEM_TRANSIENT = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN', 'EIO', 'EEXIST']);

/** Whether an HTTP status may be different later: a timeout, too many requests, a server error. */
function transientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** What a failed storage attempt means, with a short error that never holds a credential. */
export function storageFailure(error: unknown, provider: 's3' | 'azure' | 'filesystem'): Pick<SendResult, 'verdict' | 'error' | 'statusCode' | 'reason'> {
  if (error instanceof UndeliverableFileError || error instanceof ObjectKeyError || error instanceof DirectoryEscapeError)
    return { verdict: 'permanent', error: error.message };
  if (error instanceof TemplateError) return { verdict: 'permanent', error: `prefix: ${error.message}` };
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    const transient = S3_TRANSIENT.has(error.name) || (!S3_PERMANENT.has(error.name) && (status === undefined || transientStatus(status)));
    const reason = `S3 ${error.name}${status ? ` (HTTP ${status})` : ''}`;
    return { verdict: transient ? 'transient' : 'permanent', statusCode: status, reason, error: `${reason}: ${firstLine(error.message)}` };
  }
  if (error instanceof RestError && error.statusCode !== undefined) {
    const reason = `Azure ${error.code ?? 'error'} (HTTP ${error.statusCode})`;
    return {
      verdict: transientStatus(error.statusCode) ? 'transient' : 'permanent',
      statusCode: error.statusCode,
      reason,
      error: `${reason}: ${firstLine(error.message)}`,
    };
  }
  if (error instanceof DOMException && error.name === 'TimeoutError') return { verdict: 'transient', error: `timeout: ${error.message}` };
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (provider === 'filesystem' && code) {
    const message = `filesystem error (${code}): ${(error as Error).message}`;
    if (FILESYSTEM_PERMANENT.has(code)) return { verdict: 'permanent', error: message };
    if (FILESYSTEM_TRANSIENT.has(code)) return { verdict: 'transient', error: message };
  }
  return { verdict: 'transient', error: describeError(error), ...egressFailure(error) };
}

/** The first line of a service's message, at most 300 characters (Azure appends request ids and times). */
function firstLine(message: string): string {
  return message.split('\n')[0].slice(0, 300);
}
