import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { IClientPublishOptions, IConnackPacket, MqttClient } from 'mqtt';
import type { EgressGuard } from '../egress';
import type { MqttConfig } from './config';
import { BrokerRefusal, refusalFrom } from './verdict';

/** Why a connection ended, when the broker did not say (no DISCONNECT with a reason code). */
export class ConnectionLost extends Error {
  readonly code = 'ECONNRESET';

  constructor(cause: Error | undefined) {
    super(cause ? `the connection to the broker was lost: ${cause.message}` : 'the broker closed the connection');
    this.name = 'ConnectionLost';
  }
}

/** What opening a connection needs besides the config. */
export type OpenOptions = { egress: EgressGuard; connectTimeoutMs: number; destinationId: string };

/**
 * One MQTT 5 connection to a destination's broker, opened through the egress guard, that never
 * reconnects by itself: once lost, every publish waiting on it fails and it stays lost (the
 * sender drops it and opens another on the next attempt).
 */
export class MqttConnection {
  private lost: Error | null = null;
  private closing: Promise<void> | undefined;
  private readonly onLost = new Set<(error: Error) => void>();
  /** QoS 1 and 2 publishes sent and not yet acknowledged, and those waiting their turn (MQTT 5 flow control). */
  private unacknowledged = 0;
  private readonly waiting: (() => void)[] = [];

  /** Over a client that is connected: `open` makes one. */
  constructor(
    private readonly client: MqttClient,
    /** The broker's CONNACK: what it allows (retain, the highest QoS, how many messages may await acknowledgement). */
    readonly connack: IConnackPacket,
  ) {
    let lastError: Error | undefined;
    let refusal: BrokerRefusal | undefined;
    client.on('error', (error) => (lastError = error));
    client.on('disconnect', (packet) => {
      if (packet.reasonCode) refusal = new BrokerRefusal('disconnect', packet.reasonCode);
    });
    client.on('close', () => {
      this.lost ??= refusal ?? new ConnectionLost(lastError);
      for (const reject of this.onLost) reject(this.lost);
      this.onLost.clear();
    });
  }

  /**
   * Connects and waits for the broker's CONNACK (at most `connectTimeoutMs`); rejects with the
   * egress guard's refusal, the socket's error, or a `BrokerRefusal` for a refused CONNACK.
   */
  static async open(config: MqttConfig, options: OpenOptions): Promise<MqttConnection> {
    const url = new URL(config.url);
    const refusal = options.egress.hostRefusal(url.hostname);
    if (refusal) throw refusal;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const secure = url.protocol === 'mqtts:';
    const port = url.port ? Number(url.port) : secure ? 8883 : 1883;
    // Names are resolved by the guard's lookup: the address checked is the one connected to.
    const lookup = options.egress.lookup;
    const stream = () => (secure ? tlsConnect({ host, port, lookup, ...(isIP(host) ? {} : { servername: host }) }) : tcpConnect({ host, port, lookup }));
    const client = new MqttClient(stream, {
      protocolVersion: 5,
      // Unique per connection: two workers holding the same destination must not take over each other's session.
      clientId: `dispatch-${options.destinationId}-${randomBytes(4).toString('hex')}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: options.connectTimeoutMs,
      resubscribe: false,
      queueQoSZero: false,
      ...(config.username === undefined ? {} : { username: config.username }),
      ...(config.password === undefined ? {} : { password: config.password }),
    });
    return await new Promise((resolve, reject) => {
      const settle = () => {
        client.removeListener('connect', onConnect);
        client.removeListener('error', onError);
        client.removeListener('close', onClose);
      };
      const onConnect = (connack: IConnackPacket) => {
        settle();
        resolve(new MqttConnection(client, connack));
      };
      const onError = (error: Error) => {
        settle();
        client.on('error', () => undefined); // what the socket says while it closes
        client.end(true);
        reject(refusalFrom('connect', error));
      };
      const onClose = () => onError(new ConnectionLost(undefined));
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
    });
  }

  get isLost(): boolean {
    return this.lost !== null;
  }

  /**
   * Publishes and resolves when the broker acknowledged it (PUBACK for QoS 1, PUBCOMP for
   * QoS 2) or, for QoS 0, once it is written to the socket. Rejects with a `BrokerRefusal` for
   * a reason code the broker refused it with, or when the connection is lost first.
   */
  async publish(topic: string, payload: string, options: IClientPublishOptions): Promise<void> {
    const acknowledged = (options.qos ?? 0) > 0;
    if (acknowledged) await this.turn();
    try {
      await this.send(topic, payload, options);
    } finally {
      if (acknowledged) this.acknowledged();
    }
  }

  /**
   * Waits until fewer QoS 1 and 2 publishes than the broker's Receive Maximum wait for their
   * acknowledgement: a broker may end a connection that sends more.
   */
  private turn(): Promise<void> {
    const receiveMaximum = this.connack.properties?.receiveMaximum ?? 65_535;
    if (this.lost) return Promise.reject(this.lost);
    if (this.unacknowledged < receiveMaximum) {
      this.unacknowledged += 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.onLost.add(reject);
      this.waiting.push(() => {
        this.onLost.delete(reject);
        this.unacknowledged += 1;
        resolve();
      });
    });
  }

  private acknowledged(): void {
    this.unacknowledged -= 1;
    this.waiting.shift()?.();
  }

  private send(topic: string, payload: string, options: IClientPublishOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.lost) return reject(this.lost);
      this.onLost.add(reject);
      this.client.publish(topic, payload, options, (error) => {
        this.onLost.delete(reject);
        if (error) reject(refusalFrom('publish', error));
        else resolve();
      });
    });
  }

  /** Closes at once (once, however often it is called): publishes still waiting for an acknowledgement fail. Never throws. */
  close(): Promise<void> {
    this.lost ??= new ConnectionLost(undefined);
    this.closing ??= new Promise<void>((resolve) => this.client.end(true, {}, () => resolve()));
    return this.closing;
  }
}
