import type { IClientPublishOptions } from 'mqtt';
import type { SendResult } from '@dispatch/domain';
import { attemptDeadline, untilDeadline } from '../attempt-deadline';
import type { SendRequest, Sender, SenderDeps } from '../kind';
import { DestinationConnections, renderTemplate, SignedMessage, signedMessage } from '../messages';
import { MqttConfig, topicProblem } from './config';
import { MqttConnection } from './connection';
import { BrokerRefusal, mqttFailure, TopicError } from './verdict';

/** The topic an event goes to: the config's template filled from it, refused if it is not one a message can be published to. */
export function topicFor(request: Pick<SendRequest<MqttConfig>, 'config' | 'organizationId' | 'event'>): string {
  const topic = renderTemplate(request.config.topic, request);
  const problem = topicProblem(topic);
  if (problem) throw new TopicError(`topic "${topic.slice(0, 200)}" ${problem}`);
  return topic;
}

/** How a signed message is published: the config's QoS and retain flag, the Standard Webhooks headers as MQTT 5 user properties. */
export function publishOptions(config: MqttConfig, message: SignedMessage): IClientPublishOptions {
  return {
    qos: config.qos,
    retain: config.retain,
    properties: { payloadFormatIndicator: true, contentType: 'application/json', userProperties: { ...message.headers } },
  };
}

/** Why a broker's CONNACK says it will refuse what `config` asks for (retain, the QoS), or null. */
function unsupported(connection: MqttConnection, config: MqttConfig): string | null {
  const allows = connection.connack.properties ?? {};
  if (config.retain && allows.retainAvailable === false) return 'the broker does not keep retained messages: set retain to false';
  if (allows.maximumQoS !== undefined && config.qos > allows.maximumQoS) return `the broker accepts QoS ${allows.maximumQoS} at most: lower qos`;
  return null;
}

/**
 * Publishes signed events to MQTT 5 brokers over one connection per destination. Delivered
 * when the broker acknowledges the message (QoS 1: PUBACK, QoS 2: PUBCOMP) or, for QoS 0, once
 * it is written to the socket. A connection that fails an attempt is dropped; the next attempt
 * opens another.
 */
export class MqttSender implements Sender<MqttConfig> {
  private readonly connections = new DestinationConnections<MqttConnection>(
    (connection) => connection.close(),
    (connection) => connection.isLost,
  );

  constructor(private readonly deps: SenderDeps) {}

  async send(request: SendRequest<MqttConfig>, signal: AbortSignal, now: Date = new Date()): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const took = () => Math.round(performance.now() - started);
    let connection: MqttConnection | undefined;
    try {
      const topic = topicFor(request);
      const message = signedMessage(request, now);
      connection = await untilDeadline(this.connection(request), deadline.signal);
      const refusal = unsupported(connection, request.config);
      if (refusal) return { verdict: 'permanent', error: refusal, durationMs: took() };
      await untilDeadline(connection.publish(topic, message.body, publishOptions(request.config, message)), deadline.signal);
      return { verdict: 'delivered', durationMs: took() };
    } catch (error) {
      // A refused message leaves the connection as it was; anything else (lost, no acknowledgement in time) leaves it in doubt.
      if (connection && !(error instanceof BrokerRefusal && error.stage === 'publish')) await this.connections.drop(request.destinationId, connection);
      return { ...mqttFailure(error), durationMs: took() };
    } finally {
      deadline.end();
    }
  }

  /**
   * Connects with a connection of its own, authenticates and checks that the broker takes what
   * the config asks for (retain, QoS) and that the topic is valid when it does not depend on
   * the event's data; publishes nothing.
   */
  async test(request: SendRequest<MqttConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const deadline = attemptDeadline(signal, this.deps.timeoutMs);
    const took = () => Math.round(performance.now() - started);
    let opening: Promise<MqttConnection> | undefined;
    try {
      if (!request.config.topic.includes('{data.')) topicFor(request);
      opening = this.open(request);
      const connection = await untilDeadline(opening, deadline.signal);
      const refusal = unsupported(connection, request.config);
      await connection.close();
      return refusal ? { verdict: 'permanent', error: refusal, durationMs: took() } : { verdict: 'delivered', durationMs: took() };
    } catch (error) {
      return { ...mqttFailure(error), durationMs: took() };
    } finally {
      deadline.end();
      // Also when it opens after the deadline.
      void opening?.then((connection) => connection.close()).catch(() => undefined);
    }
  }

  async release(destinationId: string): Promise<void> {
    await this.connections.release(destinationId);
  }

  async close(): Promise<void> {
    await this.connections.close();
  }

  /** The destination's connection, reopened when the one held was lost while idle (nothing was waiting on it). */
  private connection(request: SendRequest<MqttConfig>): Promise<MqttConnection> {
    return this.connections.get(request.destinationId, request.config, () => this.open(request));
  }

  private open(request: SendRequest<MqttConfig>): Promise<MqttConnection> {
    return MqttConnection.open(request.config, { egress: this.deps.egress, connectTimeoutMs: this.deps.timeoutMs, destinationId: request.destinationId });
  }
}
