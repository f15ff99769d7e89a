import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  rmdirSync,
  Stats,
  statSync,
  lstatSync,
  unlinkSync,
  writeSync,
  chmodSync,
  fchmodSync,
} from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Server, utils, type Connection, type ParsedKey, type SFTPWrapper } from 'ssh2';

const { OPEN_MODE, STATUS_CODE } = utils.sftp;

/** A user the server lets in: with this password, or with the private key of this public key (OpenSSH text). */
export type SftpUser = { username: string; password?: string; publicKey?: string };

/** What the server saw a client do to its files (paths as the client named them). */
export type SftpOperation =
  { op: 'open-write'; path: string } | { op: 'rename'; from: string; to: string } | { op: 'setstat'; path: string; mode: number } | { op: 'remove'; path: string };

export type SftpServerOptions = {
  users: SftpUser[];
  /** Paths (as clients name them) under which every write is refused with PERMISSION_DENIED. */
  readOnly?: string[];
  /** The port to listen on (0: a free one). */
  port?: number;
};

/**
 * An SFTP server (the ssh2 package's) on loopback for tests, serving a temporary directory as
 * its root (`/` for clients): clients never reach outside it. Its host key is made anew; `hostKeySha256`
 * is its fingerprint as `ssh-keygen -lf` prints it. It records what clients wrote, renamed and removed.
 */
export class SftpTestServer {
  readonly operations: SftpOperation[] = [];
  /** How many bytes clients have written to files, all told. */
  bytesWritten = 0;
  private readonly connections = new Set<Connection>();
  private readonly listeners: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    /** Where the served files are on this machine. */
    readonly root: string,
    readonly hostKeySha256: string,
  ) {}

  static async start(options: SftpServerOptions): Promise<SftpTestServer> {
    const root = mkdtempSync(path.join(tmpdir(), 'dispatch-sftp-'));
    const hostKey = utils.generateKeyPairSync('ed25519');
    const blob = (utils.parseKey(hostKey.public) as ParsedKey).getPublicSSH();
    const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
    const server = new Server({ hostKeys: [hostKey.private] });
    const instance = new SftpTestServer(server, root, fingerprint);
    server.on('connection', (client) => instance.serve(client, options));
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
    return instance;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The file at `clientPath` on this machine. */
  local(clientPath: string): string {
    return path.join(this.root, path.posix.normalize(`/${clientPath}`));
  }

  /** Resolves once `check` holds after an operation (checked at once too). */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        reject(new Error(`the SFTP server did not see ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        resolve();
      };
      this.listeners.push(listener);
    });
  }

  /** Stops listening, ends every connection and removes its directory. */
  async close(): Promise<void> {
    for (const connection of this.connections) connection.end();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.root, { recursive: true, force: true });
  }

  private record(operation: SftpOperation): void {
    this.operations.push(operation);
    for (const listener of [...this.listeners]) listener();
  }

  private serve(client: Connection, options: SftpServerOptions): void {
    this.connections.add(client);
    client.on('close', () => this.connections.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (context) => {
      const user = options.users.find((one) => one.username === context.username);
      if (context.method === 'password' && user?.password !== undefined && context.password === user.password) return context.accept();
      if (context.method === 'publickey' && user?.publicKey !== undefined) {
        const allowed = utils.parseKey(user.publicKey);
        if (allowed instanceof Error || context.key.algo !== allowed.type || !context.key.data.equals(allowed.getPublicSSH())) return context.reject();
        if (!context.signature || !context.blob) return context.accept();
        return allowed.verify(context.blob, context.signature, context.hashAlgo) === true ? context.accept() : context.reject();
      }
      context.reject(['password', 'publickey']);
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        accept().on('sftp', (acceptSftp) => this.files(acceptSftp(), options.readOnly ?? []));
      });
    });
  }

  /** Answers SFTP requests from the files under `root`. */
  private files(sftp: SFTPWrapper, readOnly: string[]): void {
    const handles = new Map<number, { fd: number; path: string }>();
    let nextHandle = 1;
    const handleOf = (buffer: Buffer) => handles.get(buffer.readUInt32BE(0));
    const writable = (clientPath: string) => !readOnly.some((prefix) => clientPath === prefix || clientPath.startsWith(`${prefix}/`));
    const clientPathOf = (name: string) => path.posix.normalize(`/${name}`);
    const answer = (reqId: number, work: () => void) => {
      try {
        work();
        sftp.status(reqId, STATUS_CODE.OK);
      } catch (error) {
        fail(reqId, error);
      }
    };
    const fail = (reqId: number, error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return sftp.status(reqId, STATUS_CODE.NO_SUCH_FILE, 'No such file');
      if (code === 'EACCES' || code === 'EPERM') return sftp.status(reqId, STATUS_CODE.PERMISSION_DENIED, 'Permission denied');
      sftp.status(reqId, STATUS_CODE.FAILURE, 'Failure');
    };
    const denied = (reqId: number) => sftp.status(reqId, STATUS_CODE.PERMISSION_DENIED, 'Permission denied');
    const attrsOf = (stats: Stats) => ({
      mode: stats.mode,
      uid: stats.uid,
      gid: stats.gid,
      size: stats.size,
      atime: Math.floor(stats.atimeMs / 1000),
      mtime: Math.floor(stats.mtimeMs / 1000),
    });

    sftp.on('REALPATH', (reqId, name) => {
      const resolved = clientPathOf(name);
      sftp.name(reqId, [{ filename: resolved, longname: resolved, attrs: {} as never }]);
    });
    for (const event of ['STAT', 'LSTAT'] as const) {
      sftp.on(event, (reqId: number, name: string) => {
        try {
          const stats = (event === 'STAT' ? statSync : lstatSync)(this.local(name));
          sftp.attrs(reqId, attrsOf(stats));
        } catch (error) {
          fail(reqId, error);
        }
      });
    }
    sftp.on('OPEN', (reqId, name, flags, attrs) => {
      const clientPath = clientPathOf(name);
      const writing = (flags & OPEN_MODE.WRITE) !== 0;
      if (writing && !writable(clientPath)) return denied(reqId);
      let mode = writing ? constants.O_RDWR : constants.O_RDONLY;
      if (flags & OPEN_MODE.CREAT) mode |= constants.O_CREAT;
      if (flags & OPEN_MODE.TRUNC) mode |= constants.O_TRUNC;
      if (flags & OPEN_MODE.EXCL) mode |= constants.O_EXCL;
      if (flags & OPEN_MODE.APPEND) mode |= constants.O_APPEND;
      try {
        const fd = openSync(this.local(clientPath), mode, attrs?.mode ?? 0o644);
        const id = nextHandle++;
        handles.set(id, { fd, path: clientPath });
        const handle = Buffer.alloc(4);
        handle.writeUInt32BE(id, 0);
        if (writing) this.record({ op: 'open-write', path: clientPath });
        sftp.handle(reqId, handle);
      } catch (error) {
        fail(reqId, error);
      }
    });
    sftp.on('WRITE', (reqId, handle, offset, data) => {
      const open = handleOf(handle);
      if (!open) return sftp.status(reqId, STATUS_CODE.FAILURE, 'Bad handle');
      answer(reqId, () => (this.bytesWritten += writeSync(open.fd, data, 0, data.length, offset)));
    });
    sftp.on('READ', (reqId, handle, offset, length) => {
      const open = handleOf(handle);
      if (!open) return sftp.status(reqId, STATUS_CODE.FAILURE, 'Bad handle');
      const buffer = Buffer.alloc(length);
      const read = readSync(open.fd, buffer, 0, length, offset);
      if (read === 0) return sftp.status(reqId, STATUS_CODE.EOF);
      sftp.data(reqId, buffer.subarray(0, read));
    });
    sftp.on('FSTAT', (reqId, handle) => {
      const open = handleOf(handle);
      if (!open) return sftp.status(reqId, STATUS_CODE.FAILURE, 'Bad handle');
      sftp.attrs(reqId, attrsOf(fstatSync(open.fd)));
    });
    sftp.on('FSETSTAT', (reqId, handle, attrs) => {
      const open = handleOf(handle);
      if (!open) return sftp.status(reqId, STATUS_CODE.FAILURE, 'Bad handle');
      answer(reqId, () => {
        if (attrs.mode !== undefined) {
          fchmodSync(open.fd, attrs.mode & 0o7777);
          this.record({ op: 'setstat', path: open.path, mode: attrs.mode & 0o7777 });
        }
      });
    });
    sftp.on('CLOSE', (reqId, handle) => {
      const open = handleOf(handle);
      if (!open) return sftp.status(reqId, STATUS_CODE.FAILURE, 'Bad handle');
      handles.delete(handle.readUInt32BE(0));
      answer(reqId, () => closeSync(open.fd));
    });
    sftp.on('SETSTAT', (reqId, name, attrs) => {
      const clientPath = clientPathOf(name);
      if (!writable(clientPath)) return denied(reqId);
      answer(reqId, () => {
        if (attrs.mode !== undefined) {
          chmodSync(this.local(clientPath), attrs.mode & 0o7777);
          this.record({ op: 'setstat', path: clientPath, mode: attrs.mode & 0o7777 });
        }
      });
    });
    sftp.on('MKDIR', (reqId, name) => {
      const clientPath = clientPathOf(name);
      if (!writable(clientPath)) return denied(reqId);
      answer(reqId, () => mkdirSync(this.local(clientPath)));
    });
    sftp.on('RMDIR', (reqId, name) => answer(reqId, () => rmdirSync(this.local(name))));
    sftp.on('REMOVE', (reqId, name) => {
      const clientPath = clientPathOf(name);
      if (!writable(clientPath)) return denied(reqId);
      answer(reqId, () => {
        unlinkSync(this.local(clientPath));
        this.record({ op: 'remove', path: clientPath });
      });
    });
    // As OpenSSH's server: a rename onto an existing file fails (plain SFTP v3 RENAME).
    sftp.on('RENAME', (reqId, from, to) => {
      const [source, target] = [clientPathOf(from), clientPathOf(to)];
      if (!writable(source) || !writable(target)) return denied(reqId);
      answer(reqId, () => {
        if (lstatSync(this.local(target), { throwIfNoEntry: false })) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
        renameSync(this.local(source), this.local(target));
        this.record({ op: 'rename', from: source, to: target });
      });
    });
  }
}
