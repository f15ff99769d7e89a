import type { SendResult } from '@dispatch/domain';
import { describeError } from '../connection-errors';
import { UndeliverableFileError } from '../files/delivered-file';
import { TemplateError } from '../messages/templates';
import { HostKeyRefusedError } from './host-key';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) a server answers a request with. */
const STATUS = { NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, OP_UNSUPPORTED: 8 } as const;

const STATUS_WORDS: Record<number, string> = {
  [STATUS.NO_SUCH_FILE]: 'no such file or directory',
  [STATUS.PERMISSION_DENIED]: 'permission denied',
  [STATUS.FAILURE]: 'the server failed without saying why (a full disk, among other causes)',
  [STATUS.OP_UNSUPPORTED]: 'the server does not support this operation',
};

/** A directory filled from an event that is not one Dispatch writes to. */
export class DirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DirectoryError';
  }
}

/** A file operation (mkdir, write, chmod, rename…) the server refused or that failed, naming the path. */
export class SftpOperationError extends Error {
  /** The SFTP status code the server answered, when it answered one. */
  readonly status: number | undefined;
  /** The client library's own words. */
  readonly causeMessage: string | undefined;
  /** The connection was lost: the server did not refuse anything. */
  readonly connectionLost: boolean;

  constructor(operation: string, path: string, cause: unknown, connectionLost: boolean) {
    const failure = (typeof cause === 'object' && cause !== null ? cause : {}) as { code?: unknown; message?: string };
    // ssh2-sftp-client reports a missing directory of mkdir -p, and a refused MKDIR, as a bad path.
    const badPath = failure.code === 'ERR_BAD_PATH' || failure.code === 'ENOENT';
    const status =
      typeof failure.code === 'number'
        ? failure.code
        : badPath
          ? /permission denied/.test(failure.message ?? '')
            ? STATUS.PERMISSION_DENIED
            : STATUS.NO_SUCH_FILE
          : undefined;
    const reason = status !== undefined ? (STATUS_WORDS[status] ?? `SFTP status ${status}`) : describeError(cause);
    super(`${operation} ${path}: ${reason}`);
    this.name = 'SftpOperationError';
    this.status = status;
    this.causeMessage = failure.message;
    this.connectionLost = connectionLost || status === undefined;
  }
}

/** Where ssh2 says a connection failed. */
type Ssh2Error = Error & { level?: string; code?: unknown };

/**
 * What a failed SFTP attempt means, with a short error that never holds a credential:
 * - permanent: the host key refused (pinned, or not trusted), the credentials or the private key
 *   refused, a path that does not exist (the directory, with createDirectories false), permission
 *   denied, an operation the server does not support, a file name or directory the event cannot fill;
 * - transient: the server unreachable, a lost connection, a timeout, a server failure without a
 *   reason (SFTP's FAILURE, which is what a full disk gives), the egress guard's refusal.
 */
export function sftpFailure(error: unknown, username: string): Pick<SendResult, 'verdict' | 'error' | 'statusCode'> {
  if (error instanceof UndeliverableFileError || error instanceof DirectoryError || error instanceof HostKeyRefusedError)
    return { verdict: 'permanent', error: error.message };
  if (error instanceof TemplateError) return { verdict: 'permanent', error: `directory: ${error.message}` };
  if (error instanceof SftpOperationError) {
    if (error.status === undefined) return { verdict: 'transient', error: error.message };
    const permanent = error.status !== STATUS.FAILURE && STATUS_WORDS[error.status] !== undefined;
    return { verdict: permanent ? 'permanent' : 'transient', error: error.message, statusCode: error.status };
  }
  if (error instanceof DOMException && error.name === 'TimeoutError') return { verdict: 'transient', error: `timeout: ${error.message}` };
  const failure = error as Ssh2Error;
  if (failure?.level === 'client-authentication') return { verdict: 'permanent', error: `the server refused the credentials of user "${username}": ${failure.message}` };
  if (failure?.level === 'client-timeout') return { verdict: 'transient', error: `timeout: ${failure.message}` };
  if (/^(Cannot parse privateKey|privateKey value does not contain)/.test(failure?.message ?? ''))
    return { verdict: 'permanent', error: `privateKey: ${failure.message}` };
  const described = describeError(error);
  // ssh2's words for a connection that ended before or while it was used.
  if (described.startsWith('error') && (failure?.level === 'client-socket' || LOST.test(failure?.message ?? '')))
    return { verdict: 'transient', error: `connection error${described.slice('error'.length)}` };
  return { verdict: 'transient', error: described };
}

const LOST = /Connection lost before handshake|No response from server|Unexpected (end|close) event|No SFTP connection available/;
