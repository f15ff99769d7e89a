import type { SendResult } from '@dispatch/domain';
import { attemptDeadline, untilDeadline } from '../attempt-deadline';
import { deliveredFile } from '../files/delivered-file';
import type { SendRequest, Sender, SenderDeps } from '../kind';
import { DestinationConnections } from '../messages/destination-connections';
import { renderTemplate } from '../messages/templates';
import { directoryProblem, SftpConfig } from './config';
import { SftpConnection } from './connection';
import { HostKeys } from './host-key';
import { DirectoryError, sftpFailure, SftpOperationError } from './verdict';

/** The directory an event's file goes to: the config's template filled from it, refused if it is not an absolute path without `.` or `..`. */
export function directoryFor(request: Pick<SendRequest<SftpConfig>, 'config' | 'organizationId' | 'event'>): string {
  const directory = renderTemplate(request.config.directory, request);
  const problem = directoryProblem(directory);
  if (problem) throw new DirectoryError(`directory "${directory.slice(0, 200)}" ${problem}`);
  return directory.length > 1 ? directory.replace(/\/+$/, '') : directory;
}

/** What a delivered attempt says about the host key, when it was trusted on first use. */
function trustNote(connection: SftpConnection): string {
  return connection.hostKey.firstUse ? `; host key ${connection.hostKey.fingerprint} trusted on first use: pin it as hostKeySha256` : '';
}

/**
 * Writes each event's file to an SFTP server over one connection per destination (an SSH
 * connection checked against the destination's host key, with one SFTP session). Delivered once
 * the file is renamed to its name in the directory. A connection that fails an attempt is
 * dropped; the next attempt opens another.
 */
export class SftpSender implements Sender<SftpConfig> {
  private readonly connections = new DestinationConnections<SftpConnection>(
    (connection) => connection.close(),
    (connection) => connection.isLost,
  );
  private readonly hostKeys = new HostKeys();

  constructor(private readonly deps: SenderDeps) {}

  async send(request: SendRequest<SftpConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const took = () => Math.round(performance.now() - started);
    let connection: SftpConnection | undefined;
    try {
      const directory = directoryFor(request);
      const file = await deliveredFile(request, this.deps.files);
      connection = await untilDeadline(this.connection(request), deadline.signal);
      const written = await untilDeadline(
        connection.upload(file, directory, { mode: parseInt(request.config.mode, 8), createDirectories: request.config.createDirectories }),
        deadline.signal,
      );
      return { verdict: 'delivered', reply: `wrote ${written} (${file.size} bytes)${trustNote(connection)}`, durationMs: took() };
    } catch (error) {
      // A refused operation leaves the connection as it was; anything else (lost, out of time) leaves it in doubt.
      if (connection && !(error instanceof SftpOperationError && !error.connectionLost)) await this.connections.drop(request.destinationId, connection);
      return { ...sftpFailure(error, request.config.username), durationMs: took() };
    } finally {
      deadline.end();
    }
  }

  /**
   * Connects with a connection of its own, checks the host key, authenticates and checks that
   * the directory exists (or will be created) when it does not depend on the event; writes nothing.
   */
  async test(request: SendRequest<SftpConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const took = () => Math.round(performance.now() - started);
    let opening: Promise<SftpConnection> | undefined;
    try {
      const directory = /\{(event|data)\./.test(request.config.directory) ? null : directoryFor(request);
      opening = this.open(request);
      const connection = await untilDeadline(opening, deadline.signal);
      const connected = `connected as ${request.config.username}, host key ${connection.hostKey.fingerprint}${connection.hostKey.firstUse ? ' (trusted on first use)' : ''}`;
      if (directory === null) return { verdict: 'delivered', reply: `${connected}; the directory depends on the event, so it was not checked`, durationMs: took() };
      if (await untilDeadline(connection.directoryExists(directory), deadline.signal))
        return { verdict: 'delivered', reply: `${connected}; directory ${directory} exists`, durationMs: took() };
      if (request.config.createDirectories)
        return { verdict: 'delivered', reply: `${connected}; directory ${directory} does not exist yet: it will be created`, durationMs: took() };
      return { verdict: 'permanent', error: `directory ${directory} does not exist (and createDirectories is false)`, durationMs: took() };
    } catch (error) {
      return { ...sftpFailure(error, request.config.username), durationMs: took() };
    } finally {
      deadline.end();
      // Also when it opens after the deadline.
      void opening?.then((connection) => connection.close()).catch(() => undefined);
    }
  }

  async release(destinationId: string): Promise<void> {
    await this.connections.release(destinationId);
  }

  async close(): Promise<void> {
    await this.connections.close();
  }

  /** The destination's connection, reopened when the one held was lost while idle. */
  private connection(request: SendRequest<SftpConfig>): Promise<SftpConnection> {
    return this.connections.get(request.destinationId, request.config, () => this.open(request));
  }

  private open(request: SendRequest<SftpConfig>): Promise<SftpConnection> {
    return SftpConnection.open(request.config, {
      egress: this.deps.egress,
      connectTimeoutMs: this.deps.timeoutMs,
      destinationId: request.destinationId,
      hostKeys: this.hostKeys,
    });
  }
}
