import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ContractPeer, KindContract } from '../kind.contract';

/** The webhook kind's part of the kind contract: an HTTP receiver on loopback. */
export const contract: KindContract = {
  async startPeer(): Promise<ContractPeer> {
    const seen = new Set<string>();
    const waiters: { eventId: string; resolve: () => void }[] = [];
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const eventId = String(request.headers['webhook-id']);
        seen.add(eventId);
        response.writeHead(200).end('ok');
        for (const waiter of waiters.filter((one) => one.eventId === eventId)) waiter.resolve();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      address: { host: '127.0.0.1', port },
      waitForEvent: (eventId, timeoutMs) =>
        seen.has(eventId)
          ? Promise.resolve()
          : new Promise((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`the receiver did not get ${eventId} in ${timeoutMs} ms`)), timeoutMs);
              waiters.push({ eventId, resolve: () => (clearTimeout(timer), resolve()) });
            }),
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  },
  validConfig: (peer) => ({ url: `http://${peer.address.host}:${peer.address.port}/hook` }),
  invalidConfig: { config: { url: 'ftp://example.com/hook', method: 'GET', headers: { 'webhook-id': 'x' } }, paths: ['url', 'method', 'headers.webhook-id'] },
  blockedConfig: { config: { url: 'http://169.254.169.254/latest/meta-data/' }, paths: ['url'] },
  unreachableConfig: (closedPort) => ({ url: `http://127.0.0.1:${closedPort}/hook` }),
  credentials: (peer) => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const authorization = `Bearer ${randomBytes(24).toString('hex')}`;
    const token = randomBytes(24).toString('hex');
    return {
      config: { url: `http://${peer.address.host}:${peer.address.port}/hook`, secret, headers: { authorization, 'x-token': token }, secretHeaders: ['x-token'] },
      secrets: [secret, secret.slice('whsec_'.length), authorization, token],
    };
  },
};
