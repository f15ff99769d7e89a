import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { connect as tcpConnect, Socket } from 'node:net';
import { posix } from 'node:path';
import SftpClient from 'ssh2-sftp-client';
import type { EgressGuard } from '../egress';
import type { DeliveredFile } from '../files/delivered-file';
import { hostOf, type SftpConfig } from './config';
import { fingerprintOf, HostKeyRefusedError, HostKeys } from './host-key';
import { SftpOperationError } from './verdict';

/** What opening a connection needs besides the config. */
export type OpenOptions = { egress: EgressGuard; connectTimeoutMs: number; destinationId: string; hostKeys: HostKeys };

/** The name a file is written under before it is renamed to its own: hidden, unique, at most 255 bytes. */
export function partialName(name: string): string {
  let stem = name;
  while (Buffer.byteLength(stem) > 200) stem = stem.slice(0, -1);
  return `.${stem}.${randomBytes(6).toString('hex')}.part`;
}

/**
 * One SSH connection with its SFTP session to a destination's server, opened through the egress
 * guard and only to a server showing a host key the destination trusts. It never reconnects by
 * itself: once lost it stays lost (the sender drops it and opens another on the next attempt).
 */
export class SftpConnection {
  /** Whether the server takes posix-rename@openssh.com (an atomic rename over an existing file); unknown until tried. */
  private posixRename: boolean | undefined;

  private constructor(
    private readonly client: SftpClient,
    private readonly socket: Socket,
    /** Set once the connection ends, fails or is closed. */
    private readonly state: { lost: boolean },
    /** The server's host key fingerprint, and whether it was trusted on first use by this connection. */
    readonly hostKey: { fingerprint: string; firstUse: boolean },
  ) {}

  /**
   * Connects, checks the server's host key and authenticates, within `connectTimeoutMs`.
   * Rejects with the egress guard's refusal, a `HostKeyRefusedError`, or ssh2's error (its
   * `level` says where it failed: `client-socket`, `client-authentication`, `client-timeout`).
   */
  static async open(config: SftpConfig, options: OpenOptions): Promise<SftpConnection> {
    const refusal = options.egress.hostRefusal(config.host);
    if (refusal) throw refusal;
    const state = { lost: false };
    let refusedKey: HostKeyRefusedError | undefined;
    let hostKey: { fingerprint: string; firstUse: boolean } | undefined;
    let failure: Error | undefined;
    const lose = () => (state.lost = true);
    const client = new SftpClient(`dispatch-${options.destinationId}`, { error: lose, end: lose, close: lose });
    // The client listens to its SSH connection once per operation in flight, and attempts share
    // the connection: as many listeners as attempts run at once, each removed when its operation ends.
    (client as unknown as { client: EventEmitter }).client.setMaxListeners(0);
    // ssh2's own error, with its level, before the client rewords it.
    client.on('error', (error: Error) => (failure ??= error));
    // Names are resolved by the guard's lookup: the address checked is the one connected to.
    const socket = tcpConnect({ host: hostOf(config), port: config.port, lookup: options.egress.lookup });
    try {
      await client.connect({
        sock: socket,
        host: hostOf(config),
        port: config.port,
        username: config.username,
        ...(config.password === undefined ? {} : { password: config.password }),
        ...(config.privateKey === undefined ? {} : { privateKey: config.privateKey }),
        ...(config.passphrase === undefined ? {} : { passphrase: config.passphrase }),
        readyTimeout: options.connectTimeoutMs,
        keepaliveInterval: 15_000,
        hostVerifier: (key: Buffer) => {
          try {
            hostKey = { fingerprint: fingerprintOf(key), ...options.hostKeys.check(options.destinationId, config, key) };
            return true;
          } catch (error) {
            refusedKey = error as HostKeyRefusedError;
            return false;
          }
        },
      });
    } catch (error) {
      socket.destroy();
      throw refusedKey ?? failure ?? error;
    }
    return new SftpConnection(client, socket, state, hostKey!);
  }

  get isLost(): boolean {
    return this.state.lost;
  }

  /** Whether `directory` exists (and is a directory). */
  async directoryExists(directory: string): Promise<boolean> {
    return (await this.step('stat', directory, () => this.client.exists(directory))) === 'd';
  }

  /**
   * Writes `file` into `directory` as `file.name`: streamed to a hidden temporary name, given
   * `mode`, then renamed, so the file never shows under its name half written. Creates the
   * directory first with `createDirectories`. Answers the path written.
   */
  async upload(file: DeliveredFile, directory: string, options: { mode: number; createDirectories: boolean }): Promise<string> {
    if (options.createDirectories) await this.makeDirectory(directory);
    const target = posix.join(directory, file.name);
    const partial = posix.join(directory, partialName(file.name));
    const content = await file.open();
    try {
      await this.step('write', partial, () => this.client.put(content, partial, { writeStreamOptions: { flags: 'w', mode: options.mode } }));
      await this.step('chmod', partial, () => this.client.chmod(partial, options.mode));
      await this.rename(partial, target);
    } catch (error) {
      content.destroy();
      if (!this.state.lost) await this.client.delete(partial, true).catch(() => undefined);
      throw error;
    }
    return target;
  }

  /** mkdir -p; another attempt making the same directory at the same time is no failure. */
  private async makeDirectory(directory: string): Promise<void> {
    try {
      await this.step('mkdir', directory, () => this.client.mkdir(directory, true));
    } catch (error) {
      if (this.state.lost || !(await this.directoryExists(directory).catch(() => false))) throw error;
    }
  }

  /**
   * Renames over an existing file: with posix-rename@openssh.com when the server has it (one
   * atomic step); else a plain SFTP rename, which fails onto an existing file, so that file is
   * removed first and the rename made again.
   */
  private async rename(from: string, to: string): Promise<void> {
    if (this.posixRename !== false) {
      try {
        await this.step('rename', to, () => this.client.posixRename(from, to));
        this.posixRename = true;
        return;
      } catch (error) {
        if (!/does not support/.test((error as SftpOperationError).causeMessage ?? '')) throw error;
        this.posixRename = false;
      }
    }
    try {
      await this.step('rename', to, () => this.client.rename(from, to));
    } catch (error) {
      if (this.state.lost || (await this.client.exists(to).catch(() => false)) === false) throw error;
      await this.step('remove', to, () => this.client.delete(to, true));
      await this.step('rename', to, () => this.client.rename(from, to));
    }
  }

  /** `work` on `path`, its failure an `SftpOperationError` naming what was done to which path. */
  private async step<T>(operation: string, path: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw new SftpOperationError(operation, path, error, this.state.lost);
    }
  }

  /** Closes (once, however often it is called); never throws. */
  async close(): Promise<void> {
    this.state.lost = true;
    const ended = this.client.end().catch(() => undefined);
    await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    this.socket.destroy();
  }
}
