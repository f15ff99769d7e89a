import { randomBytes } from 'node:crypto';
import { connectAsync, IPublishPacket } from 'mqtt';
import type { ContractPeer, KindContract } from '../kind.contract';

const HOST = '127.0.0.1';
const PORT = 1883;

/** A message as a subscriber received it. */
export type ReceivedMessage = { topic: string; body: string; headers: Record<string, string>; packet: IPublishPacket };

/** A subscriber on the shared broker, on topics of its own (`<prefix>/#`). */
export type MqttPeer = ContractPeer & { prefix: string; messages: ReceivedMessage[]; waitForMessage(eventId: string, timeoutMs: number): Promise<ReceivedMessage> };

/** An MQTT 5 subscriber on `<prefix>/#` of the broker at `port`, which finds messages by their `webhook-id` user property. */
export async function startSubscriber(port = PORT): Promise<MqttPeer> {
  const prefix = `contract-${randomBytes(6).toString('hex')}`;
  const client = await connectAsync(`mqtt://${HOST}:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  const messages: ReceivedMessage[] = [];
  const waiters: { eventId: string; resolve: (message: ReceivedMessage) => void }[] = [];
  client.on('message', (topic, payload, packet) => {
    const headers = Object.fromEntries(Object.entries(packet.properties?.userProperties ?? {}).map(([name, value]) => [name, String(value)]));
    const message = { topic, body: payload.toString('utf8'), headers, packet };
    messages.push(message);
    for (const waiter of waiters.filter((one) => one.eventId === headers['webhook-id'])) waiter.resolve(message);
  });
  await client.subscribeAsync(`${prefix}/#`, { qos: 2 });
  const waitForMessage = (eventId: string, timeoutMs: number) => {
    const seen = messages.find((message) => message.headers['webhook-id'] === eventId);
    if (seen) return Promise.resolve(seen);
    return new Promise<ReceivedMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the subscriber did not get ${eventId} in ${timeoutMs} ms`)), timeoutMs);
      waiters.push({ eventId, resolve: (message) => (clearTimeout(timer), resolve(message)) });
    });
  };
  return {
    prefix,
    messages,
    address: { host: HOST, port },
    waitForMessage,
    waitForEvent: async (eventId, timeoutMs) => void (await waitForMessage(eventId, timeoutMs)),
    close: async () => {
      await client.endAsync(true);
    },
  };
}

/** The mqtt kind's part of the kind contract: a subscriber on the shared broker on loopback. */
export const contract: KindContract = {
  startPeer: () => startSubscriber(),
  validConfig: (peer) => ({ url: `mqtt://${peer.address.host}:${peer.address.port}`, topic: `${(peer as MqttPeer).prefix}/{event.type}` }),
  invalidConfig: { config: { url: 'http://127.0.0.1:1883', topic: 'devices/+/events', qos: 3 }, paths: ['url', 'topic', 'qos'] },
  blockedConfig: { config: { url: 'mqtt://169.254.169.254:1883', topic: 'devices/{data.device_id}' }, paths: ['url'] },
  unreachableConfig: (closedPort) => ({ url: `mqtt://127.0.0.1:${closedPort}`, topic: 'devices/{event.type}' }),
  credentials: (peer) => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const password = randomBytes(24).toString('hex');
    // The shared broker lets anyone in: it takes any username and password.
    return { config: { ...contract.validConfig(peer), secret, username: 'dispatch', password }, secrets: [secret, secret.slice('whsec_'.length), password] };
  },
};
