import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import type { ContractPeer, KindContract } from '../kind.contract';

const HOST = '127.0.0.1';
const PORT = 4222;

/** The nats kind's part of the kind contract: a subscriber on the NATS server on loopback, on subjects of its own. */
export const contract: KindContract & { startPeer(): Promise<ContractPeer & { prefix: string }> } = {
  async startPeer() {
    const prefix = `contract_${randomBytes(6).toString('hex')}`;
    const connection = await connect({ servers: `${HOST}:${PORT}`, reconnect: false });
    const seen = new Set<string>();
    const waiters: { eventId: string; resolve: () => void }[] = [];
    connection.subscribe(`${prefix}.>`, {
      callback: (_error, message) => {
        const eventId = message.headers?.get('webhook-id');
        if (!eventId) return;
        seen.add(eventId);
        for (const waiter of waiters.filter((one) => one.eventId === eventId)) waiter.resolve();
      },
    });
    await connection.flush();
    return {
      prefix,
      address: { host: HOST, port: PORT },
      waitForEvent: (eventId, timeoutMs) =>
        seen.has(eventId)
          ? Promise.resolve()
          : new Promise((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`the subscriber did not get ${eventId} in ${timeoutMs} ms`)), timeoutMs);
              waiters.push({ eventId, resolve: () => (clearTimeout(timer), resolve()) });
            }),
      close: () => connection.close(),
    };
  },
  validConfig: (peer) => ({ url: `nats://${peer.address.host}:${peer.address.port}`, subject: `${(peer as ContractPeer & { prefix: string }).prefix}.{event.type}` }),
  invalidConfig: { config: { url: 'http://127.0.0.1:4222', subject: 'events.>', jetstream: 'yes' }, paths: ['url', 'subject', 'jetstream'] },
  blockedConfig: { config: { url: 'nats://169.254.169.254:4222', subject: 'events.{event.type}' }, paths: ['url'] },
  unreachableConfig: (closedPort) => ({ url: `nats://127.0.0.1:${closedPort}`, subject: 'events.{event.type}' }),
  credentials: (peer) => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const password = randomBytes(24).toString('hex');
    // The shared server asks for no credentials and takes any.
    return { config: { ...contract.validConfig(peer), secret, username: 'dispatch', password }, secrets: [secret, secret.slice('whsec_'.length), password] };
  },
};
