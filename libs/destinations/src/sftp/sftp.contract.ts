import { randomBytes } from 'node:crypto';
import { SftpTestServer } from '@dispatch/testing';
import type { ContractPeer, KindContract } from '../kind.contract';

const USERNAME = 'dispatch';
const DIRECTORY = '/contract';

/** An SFTP server on loopback that lets in USERNAME with `password`, and finds events by their files (`{event.id}.json`, renamed into DIRECTORY). */
export type SftpPeer = ContractPeer & { server: SftpTestServer; password: string };

async function startPeer(): Promise<SftpPeer> {
  const password = randomBytes(24).toString('hex');
  const server = await SftpTestServer.start({ users: [{ username: USERNAME, password }] });
  const renamedTo = (eventId: string) => () => server.operations.some((operation) => operation.op === 'rename' && operation.to === `${DIRECTORY}/${eventId}.json`);
  return {
    server,
    password,
    address: { host: '127.0.0.1', port: server.port },
    waitForEvent: (eventId, timeoutMs) => server.until(renamedTo(eventId), timeoutMs, `${eventId}.json`),
    close: () => server.close(),
  };
}

/** The sftp kind's part of the kind contract: an SFTP server of its own, pinned by its host key. */
export const contract: KindContract = {
  startPeer,
  validConfig: (peer) => {
    const { server, password } = peer as SftpPeer;
    return { host: peer.address.host, port: peer.address.port, username: USERNAME, password, hostKeySha256: server.hostKeySha256, directory: DIRECTORY };
  },
  invalidConfig: {
    config: { host: 'sftp://files.example', port: 70_000, username: 'u', password: 'p', directory: 'relative/dir', mode: '999' },
    paths: ['host', 'port', 'directory', 'mode'],
  },
  blockedConfig: { config: { host: '169.254.169.254', username: 'u', password: 'p', directory: '/in' }, paths: ['host'] },
  unreachableConfig: (closedPort) => ({
    host: '127.0.0.1',
    port: closedPort,
    username: USERNAME,
    password: 'p',
    hostKeySha256: `SHA256:${'A'.repeat(43)}`,
    directory: DIRECTORY,
  }),
  credentials: (peer) => ({ config: contract.validConfig(peer), secrets: [(peer as SftpPeer).password] }),
};
