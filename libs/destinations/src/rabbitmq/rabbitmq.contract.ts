import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import type { ContractPeer, KindContract } from '../kind.contract';

/** The shared broker on this machine, and its default user. */
export const BROKER = { host: '127.0.0.1', port: 5672, username: 'guest', password: 'guest' };

type RabbitPeer = ContractPeer & { exchange: string };

/** A subscriber on the shared broker: an exchange and a queue of its own, named for this run, deleted on close. */
async function startPeer(): Promise<RabbitPeer> {
  const name = `dispatch-contract-${randomBytes(6).toString('hex')}`;
  const connection = await connect(`amqp://${BROKER.username}:${BROKER.password}@${BROKER.host}:${BROKER.port}`);
  const channel = await connection.createChannel();
  await channel.assertExchange(name, 'topic', { durable: false });
  await channel.assertQueue(name, { exclusive: true, durable: false });
  await channel.bindQueue(name, name, '#');
  const seen = new Set<string>();
  const waiters: { eventId: string; resolve: () => void }[] = [];
  await channel.consume(
    name,
    (message) => {
      const eventId = String(message?.properties.headers?.['webhook-id']);
      seen.add(eventId);
      for (const waiter of waiters.filter((one) => one.eventId === eventId)) waiter.resolve();
    },
    { noAck: true },
  );
  return {
    exchange: name,
    address: { host: BROKER.host, port: BROKER.port },
    waitForEvent: (eventId, timeoutMs) =>
      seen.has(eventId)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`the subscriber did not get ${eventId} in ${timeoutMs} ms`)), timeoutMs);
            waiters.push({ eventId, resolve: () => (clearTimeout(timer), resolve()) });
          }),
    close: async () => {
      await channel.deleteQueue(name);
      await channel.deleteExchange(name);
      await connection.close();
    },
  };
}

const url = (port: number) => `amqp://${BROKER.username}:${BROKER.password}@${BROKER.host}:${port}`;

/** The rabbitmq kind's part of the kind contract: a subscriber on the shared broker. */
export const contract: KindContract = {
  startPeer,
  validConfig: (peer) => ({ url: url(peer.address.port), exchange: (peer as RabbitPeer).exchange, routingKey: '{event.type}' }),
  invalidConfig: { config: { url: 'http://broker.example', exchange: '{event.data}', persistent: 'yes' }, paths: ['url', 'exchange', 'persistent'] },
  blockedConfig: { config: { url: 'amqp://169.254.169.254:5672', exchange: 'events' }, paths: ['url'] },
  unreachableConfig: (closedPort) => ({ url: url(closedPort), exchange: 'events' }),
  credentials: (peer) => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    return {
      config: { url: url(peer.address.port), exchange: (peer as RabbitPeer).exchange, secret },
      // The shared broker's user is guest/guest: "guest" must show nowhere either.
      secrets: [secret, secret.slice('whsec_'.length), `${BROKER.username}:${BROKER.password}@`, BROKER.password],
    };
  },
};
