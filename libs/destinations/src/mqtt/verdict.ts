import { ErrorWithReasonCode, ReasonCodes } from 'mqtt';
import type { SendResult } from '@dispatch/domain';
import { TemplateError } from '../messages';
import { describeError } from '../connection-errors';

/** Where an MQTT attempt failed: opening the connection (CONNACK), publishing (PUBACK, PUBREC), or a broker that hung up. */
export type MqttStage = 'connect' | 'publish' | 'disconnect';

/**
 * The broker said no with a reason code: a CONNACK refusing the connection, a PUBACK or PUBREC
 * refusing the message, or a DISCONNECT that ended the connection.
 */
export class BrokerRefusal extends Error {
  constructor(
    readonly stage: MqttStage,
    readonly reasonCode: number,
  ) {
    super(`${STAGE_WORDS[stage]}: ${ReasonCodes[reasonCode as keyof typeof ReasonCodes] || 'reason'} (0x${reasonCode.toString(16).padStart(2, '0')})`);
    this.name = 'BrokerRefusal';
  }
}

/**
 * What mqtt.js failed with at `stage`: a `BrokerRefusal` when the broker gave a reason code, a
 * `TimeoutError` when it sent no CONNACK in time, else the error as it is.
 */
export function refusalFrom(stage: MqttStage, error: Error): Error {
  if (error instanceof ErrorWithReasonCode) return new BrokerRefusal(stage, error.code);
  if (error.message === 'connack timeout') return new DOMException('the broker did not accept the connection in time (no CONNACK)', 'TimeoutError');
  return error;
}

/** A rendered topic Dispatch may not publish to (a wildcard, NUL, empty or too long): the config or the event must change. */
export class TopicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicError';
  }
}

const STAGE_WORDS: Record<MqttStage, string> = {
  connect: 'the broker refused the connection',
  publish: 'the broker refused the message',
  disconnect: 'the broker closed the connection',
};

/**
 * Reason codes that will not change by trying again. CONNACK: unacceptable protocol version,
 * bad username or password, not authorized (MQTT 3 return codes 1, 4, 5; MQTT 5 0x84-0x87,
 * banned 0x8A, bad authentication method 0x8C). PUBACK, PUBREC or DISCONNECT: not authorized
 * 0x87, topic name invalid 0x90, packet too large 0x95, payload format invalid 0x99, retain or
 * QoS not supported 0x9A and 0x9B. Everything else (server busy or unavailable, quota exceeded
 * 0x97, rate too high, unspecified errors) may work later.
 */
const PERMANENT: Record<MqttStage, ReadonlySet<number>> = {
  connect: new Set([0x01, 0x04, 0x05, 0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c]),
  publish: new Set([0x87, 0x90, 0x95, 0x99, 0x9a, 0x9b]),
  disconnect: new Set([0x87, 0x90, 0x95, 0x99, 0x9a, 0x9b]),
};

/** What a failed MQTT attempt means, with a short error that never holds a credential. */
export function mqttFailure(error: unknown): Pick<SendResult, 'verdict' | 'error' | 'statusCode'> {
  if (error instanceof TemplateError) return { verdict: 'permanent', error: `topic: ${error.message}` };
  if (error instanceof TopicError) return { verdict: 'permanent', error: error.message };
  if (error instanceof BrokerRefusal) {
    return { verdict: PERMANENT[error.stage].has(error.reasonCode) ? 'permanent' : 'transient', error: error.message, statusCode: error.reasonCode };
  }
  // A DOMException's numeric code says nothing to a reader.
  if (error instanceof DOMException && error.name === 'TimeoutError') return { verdict: 'transient', error: `timeout: ${error.message}` };
  return { verdict: 'transient', error: describeError(error) };
}
