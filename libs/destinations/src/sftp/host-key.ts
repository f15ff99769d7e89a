import { createHash } from 'node:crypto';
import type { SftpConfig } from './config';

/** A host key's fingerprint as OpenSSH prints it: `SHA256:` and the unpadded base64 SHA-256 of the key blob. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The server showed a host key the destination does not trust: another than the pinned one, or an unpinned one. */
export class HostKeyRefusedError extends Error {
  readonly code = 'HOST_KEY_REFUSED';

  constructor(
    readonly seen: string,
    expected: { fingerprint: string; by: 'pinned' | 'trusted on first use' } | null,
    host: string,
  ) {
    super(
      expected === null
        ? `the server ${host} showed host key ${seen}, which is not pinned: check it (ssh-keyscan ${host} | ssh-keygen -lf -) and set hostKeySha256 to it, or set trustOnFirstUse`
        : expected.by === 'pinned'
          ? `the server ${host} showed host key ${seen}, not the pinned ${expected.fingerprint}: the server's key changed, or this is not the server (hostKeySha256)`
          : `the server ${host} showed host key ${seen}, not ${expected.fingerprint}, which was trusted on first use: the server's key changed, or this is not the server`,
    );
    this.name = 'HostKeyRefusedError';
  }
}

/**
 * Which host keys the destinations trust: the pinned one (`hostKeySha256`), or, with
 * `trustOnFirstUse` and no pin, the first one this process saw for the destination's host and
 * port, remembered in memory for the life of the process (never written back to the config:
 * another worker, or this one after a restart, trusts anew on its first connection).
 */
export class HostKeys {
  private readonly firstSeen = new Map<string, string>();

  /**
   * Checks the key the server showed; throws `HostKeyRefusedError` when the destination does not
   * trust it. Answers whether it was trusted on first use just now.
   */
  check(destinationId: string, config: Pick<SftpConfig, 'host' | 'port' | 'hostKeySha256' | 'trustOnFirstUse'>, key: Buffer): { firstUse: boolean } {
    const seen = fingerprintOf(key);
    if (config.hostKeySha256 !== undefined) {
      if (seen !== config.hostKeySha256) throw new HostKeyRefusedError(seen, { fingerprint: config.hostKeySha256, by: 'pinned' }, config.host);
      return { firstUse: false };
    }
    if (!config.trustOnFirstUse) throw new HostKeyRefusedError(seen, null, config.host);
    const place = `${destinationId} ${config.host}:${config.port}`;
    const known = this.firstSeen.get(place);
    if (known === undefined) {
      this.firstSeen.set(place, seen);
      return { firstUse: true };
    }
    if (seen !== known) throw new HostKeyRefusedError(seen, { fingerprint: known, by: 'trusted on first use' }, config.host);
    return { firstUse: false };
  }
}
