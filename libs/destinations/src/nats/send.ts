import { isIP } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { connect, ConnectionOptions, headers as natsHeaders, MsgHdrs, NatsConnection, TlsOptions } from 'nats';
import { attemptDeadline, untilDeadline } from '../attempt-deadline';
import type { SendRequest, SendResult, Sender, SenderDeps } from '../kind';
import { DestinationConnections, renderTemplate, SignedMessage, signedMessage } from '../messages';
import { NATS_DEFAULT_PORT, NatsConfig } from './config';
import { publishSubject } from './subject';
import { NoStreamError, natsFailure, PublishRefusedError } from './verdict';

/** Opens a connection (the `nats` client's `connect`; tests give another). */
export type NatsConnect = (options: ConnectionOptions) => Promise<NatsConnection>;

/** One destination's connection, and the publishes the server refused on it. */
type NatsLink = { connection: NatsConnection; refusals: PublishRefusals };

/**
 * Publishes to NATS over one connection per destination, opened through the egress guard (to
 * the address it allows) with reconnecting off: a broken connection fails the attempt as
 * transient and is dropped, and the next attempt opens another. A core publish is delivered
 * once the server has taken it (the flush after it came back); a JetStream publish once the
 * stream acknowledges it, with the delivery id as `Nats-Msg-Id`, so the stream's duplicate
 * window keeps one copy of a retried delivery.
 */
export class NatsSender implements Sender<NatsConfig> {
  private readonly links = new DestinationConnections<NatsLink>(
    (link) => link.connection.close().catch(() => undefined),
    // Reconnecting is off: a server that went away while the connection sat idle closed it.
    (link) => link.connection.isClosed(),
  );

  constructor(
    private readonly deps: SenderDeps,
    private readonly connectTo: NatsConnect = connect,
  ) {}

  async send(request: SendRequest<NatsConfig>, signal: AbortSignal, now: Date = new Date()): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const { config } = request;
    let subject: string | undefined;
    let link: NatsLink | undefined;
    try {
      subject = publishSubject(renderTemplate(config.subject, request));
      const message = signedMessage(request, now);
      link = await untilDeadline(this.link(request), deadline.signal);
      const reply = await untilDeadline(
        publish(link, subject, message, config.jetstream ? { msgID: request.deliveryId, timeoutMs: this.deps.timeoutMs } : null),
        deadline.signal,
      );
      return { verdict: 'delivered', durationMs: Math.round(performance.now() - started), ...(reply === undefined ? {} : { reply }) };
    } catch (error) {
      const failure = natsFailure(error, { subject, jetstream: config.jetstream, tls: isTls(config) });
      // Not awaited: a connection still opening is closed once it is open.
      if (failure.broken) void this.links.drop(request.destinationId, link);
      return { verdict: failure.verdict, error: failure.error, durationMs: Math.round(performance.now() - started) };
    } finally {
      deadline.end();
    }
  }

  /**
   * Connects and authenticates on a connection of its own, publishing nothing; with JetStream,
   * checks that the account has it and, when the subject does not depend on the event (no
   * `{event.*}` or `{data.*}`), that a stream captures it.
   */
  async test(request: SendRequest<NatsConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const { config } = request;
    const opening = connectionOptions(config, this.deps).then((options) => this.connectTo(options));
    let subject: string | undefined;
    try {
      const connection = await untilDeadline(opening, deadline.signal);
      let reply = `connected to NATS ${connection.info?.version ?? ''}`.trim();
      if (config.jetstream) {
        const manager = await untilDeadline(connection.jetstreamManager(), deadline.signal);
        if (!/\{(event|data)\./.test(config.subject)) {
          subject = publishSubject(renderTemplate(config.subject, request));
          const found = subject;
          const stream = await untilDeadline(
            manager.streams.find(found).catch((error: Error) => Promise.reject(/no stream matches/.test(error.message) ? new NoStreamError(found) : error)),
            deadline.signal,
          );
          reply += `; stream ${stream} captures "${subject}"`;
        }
      }
      return { verdict: 'delivered', reply, durationMs: Math.round(performance.now() - started) };
    } catch (error) {
      const failure = natsFailure(error, { subject, jetstream: config.jetstream, tls: isTls(config) });
      return { verdict: failure.verdict, error: failure.error, durationMs: Math.round(performance.now() - started) };
    } finally {
      deadline.end();
      void opening.then((connection) => connection.close()).catch(() => undefined);
    }
  }

  release(destinationId: string): Promise<void> {
    return this.links.release(destinationId);
  }

  close(): Promise<void> {
    return this.links.close();
  }

  /** The destination's open connection: the one it holds unless the server closed it meanwhile. */
  private link(request: SendRequest<NatsConfig>): Promise<NatsLink> {
    const { url, token, username, password } = request.config;
    return this.links.get(request.destinationId, { url, token, username, password }, () => this.open(request.config));
  }

  private async open(config: NatsConfig): Promise<NatsLink> {
    const connection = await this.connectTo(await connectionOptions(config, this.deps));
    return { connection, refusals: new PublishRefusals(connection) };
  }
}

/**
 * How the client connects for `config`: to the address the egress guard allows for the URL's
 * host (the client is given no name to resolve), never reconnecting, with the config's
 * credentials; TLS for a `tls://` URL only, checked against the host the URL names.
 */
export async function connectionOptions(config: NatsConfig, deps: SenderDeps): Promise<ConnectionOptions> {
  const url = new URL(config.url);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const address = await deps.egress.resolveAllowed(host);
  // The client hands these to tls.connect: an address is checked as `host`, a name as `servername` (SNI).
  const tls: (TlsOptions & Pick<TlsConnectionOptions, 'host' | 'servername'>) | null = isTls(config) ? (isIP(host) ? { host } : { servername: host }) : null;
  return {
    servers: `${isIP(address) === 6 ? `[${address}]` : address}:${url.port || NATS_DEFAULT_PORT}`,
    name: 'dispatch',
    reconnect: false,
    resolve: false,
    ignoreClusterUpdates: true,
    timeout: Math.min(deps.timeoutMs, 10_000),
    tls,
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.username === undefined ? {} : { user: config.username, pass: config.password ?? '' }),
  };
}

/**
 * Publishes `message` to `subject`: to JetStream when `jetstream` is given (answers the stream's
 * acknowledgement as JSON), else a core publish confirmed by a flush. Rejects with
 * `PublishRefusedError` when the server refuses the subject to this connection's user.
 */
export async function publish(
  link: NatsLink,
  subject: string,
  message: SignedMessage,
  jetstream: { msgID: string; timeoutMs: number } | null,
): Promise<string | undefined> {
  const headers: MsgHdrs = natsHeaders();
  for (const [name, value] of Object.entries(message.headers)) headers.set(name, value);
  const watch = link.refusals.watch(subject);
  try {
    if (jetstream) {
      const ack = await Promise.race([
        link.connection.jetstream().publish(subject, message.body, { msgID: jetstream.msgID, headers, timeout: jetstream.timeoutMs }),
        watch.refused,
      ]);
      return JSON.stringify({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate });
    }
    link.connection.publish(subject, message.body, { headers });
    // The server reports a refused publish before it answers the flush: give its report a turn to arrive.
    await Promise.race([link.connection.flush().then(() => new Promise((resolve) => setImmediate(resolve))), watch.refused]);
    return undefined;
  } finally {
    watch.stop();
  }
}

/** The publishes a connection's server refused (a permissions violation), for the attempts waiting on them. */
export class PublishRefusals {
  private readonly waiters = new Set<{ subject: string; reject: (error: Error) => void }>();

  constructor(connection: Pick<NatsConnection, 'status'>) {
    void (async () => {
      for await (const status of connection.status()) {
        const context = status.type === 'error' ? status.permissionContext : undefined;
        if (context?.operation !== 'publish') continue;
        for (const waiter of this.waiters) if (waiter.subject === context.subject) waiter.reject(new PublishRefusedError(context.subject));
      }
    })().catch(() => undefined);
  }

  /** `refused` rejects when the server refuses a publish to `subject`, until `stop()`. */
  watch(subject: string): { refused: Promise<never>; stop: () => void } {
    let waiter!: { subject: string; reject: (error: Error) => void };
    const refused = new Promise<never>((_resolve, reject) => {
      waiter = { subject, reject };
      this.waiters.add(waiter);
    });
    refused.catch(() => undefined);
    return { refused, stop: () => this.waiters.delete(waiter) };
  }
}

function isTls(config: NatsConfig): boolean {
  return new URL(config.url).protocol === 'tls:';
}
