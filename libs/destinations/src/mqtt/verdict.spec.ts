import { ErrorWithReasonCode } from 'mqtt';
import { EgressRefusedError } from '../egress';
import { TemplateError } from '../messages';
import { BrokerRefusal, mqttFailure, refusalFrom, TopicError } from './verdict';

function setup() {
  // The errors mqtt.js fails with, as it makes them.
  const connack = (code: number) => new ErrorWithReasonCode(`Connection refused: reason ${code}`, code);
  const puback = (code: number) => new ErrorWithReasonCode(`Publish error: reason ${code}`, code);
  return { sut: (stage: 'connect' | 'publish', error: Error) => mqttFailure(refusalFrom(stage, error)), connack, puback };
}

describe('what a failed MQTT attempt means', () => {
  it.each([
    [0x86, 'Bad User Name or Password'],
    [0x87, 'Not authorized'],
    [0x84, 'Unsupported Protocol Version'],
    [0x8a, 'Banned'],
    [0x04, 'Bad username or password'],
    [0x05, 'Not authorized'],
  ])('fails at once when the broker refuses the connection with 0x%s (%s)', (code, words) => {
    const { sut, connack } = setup();
    expect(sut('connect', connack(code))).toEqual({
      verdict: 'permanent',
      error: `the broker refused the connection: ${words} (0x${code.toString(16).padStart(2, '0')})`,
      statusCode: code,
    });
  });

  it.each([0x88, 0x89, 0x9f])('retries when the broker is unavailable or busy (0x%s)', (code) => {
    const { sut, connack } = setup();
    expect(sut('connect', connack(code))).toMatchObject({ verdict: 'transient', statusCode: code });
  });

  it.each([
    [0x87, 'permanent'],
    [0x90, 'permanent'],
    [0x95, 'permanent'],
    [0x99, 'permanent'],
    [0x97, 'transient'],
    [0x80, 'transient'],
  ])('reads a PUBACK refusing the message with 0x%s as %s', (code, verdict) => {
    const { sut, puback } = setup();
    expect(sut('publish', puback(code))).toMatchObject({ verdict, statusCode: code, error: expect.stringMatching(/^the broker refused the message: /) });
  });

  it('reads a DISCONNECT the broker ended the connection with by its reason code', () => {
    expect(mqttFailure(new BrokerRefusal('disconnect', 0x95))).toEqual({
      verdict: 'permanent',
      error: 'the broker closed the connection: Packet too large (0x95)',
      statusCode: 0x95,
    });
    expect(mqttFailure(new BrokerRefusal('disconnect', 0x8b))).toMatchObject({ verdict: 'transient' });
  });

  it('fails at once for a topic the event cannot fill or that may not be published to', () => {
    expect(mqttFailure(new TemplateError("the event's data has no value at {data.device_id}"))).toEqual({
      verdict: 'permanent',
      error: "topic: the event's data has no value at {data.device_id}",
    });
    expect(mqttFailure(new TopicError('topic "a/+" has a wildcard'))).toEqual({ verdict: 'permanent', error: 'topic "a/+" has a wildcard' });
  });

  it('retries what the socket and the connection failed with: refused, refused by the egress guard, timed out, lost', () => {
    const { sut } = setup();
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1883'), { code: 'ECONNREFUSED' });
    expect(sut('connect', refused)).toEqual({ verdict: 'transient', error: 'connection error (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1883' });
    expect(sut('connect', new EgressRefusedError('10.0.0.1', false))).toEqual({
      verdict: 'transient',
      error: expect.stringMatching(/^connection error \(EGRESS_NOT_ALLOWED\): 10\.0\.0\.1 is not an allowed address/),
    });
    expect(sut('connect', new Error('connack timeout'))).toEqual({
      verdict: 'transient',
      error: 'timeout: the broker did not accept the connection in time (no CONNACK)',
    });
    expect(sut('publish', new DOMException('The attempt took longer than 5000 ms', 'TimeoutError'))).toEqual({
      verdict: 'transient',
      error: 'timeout: The attempt took longer than 5000 ms',
    });
    expect(sut('publish', Object.assign(new Error('the broker closed the connection'), { code: 'ECONNRESET' }))).toEqual({
      verdict: 'transient',
      error: 'connection error (ECONNRESET): the broker closed the connection',
    });
  });
});
