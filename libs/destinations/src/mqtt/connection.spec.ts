import { EventEmitter } from 'node:events';
import { ErrorWithReasonCode, IConnackPacket, MqttClient } from 'mqtt';
import { MqttConnection } from './connection';
import { BrokerRefusal } from './verdict';

type Sent = { topic: string; options: { qos?: number }; callback: (error?: Error) => void };

function setup(receiveMaximum?: number) {
  const sent: Sent[] = [];
  const client = Object.assign(new EventEmitter(), {
    publish: jest.fn((topic: string, _payload: string, options: Sent['options'], callback: Sent['callback']) => {
      sent.push({ topic, options, callback });
    }),
    end: jest.fn((_force: boolean, _options: object, callback: () => void) => {
      client.emit('close');
      callback();
    }),
  });
  const connack = { cmd: 'connack', sessionPresent: false, properties: receiveMaximum === undefined ? {} : { receiveMaximum } } as IConnackPacket;
  const sut = new MqttConnection(client as unknown as MqttClient, connack);
  return { sut, mocks: { client, sent } };
}

/** Whether `promise` has settled, after pending callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('an MQTT connection', () => {
  it("resolves a publish on the broker's acknowledgement, and rejects it with the reason code of a refusal", async () => {
    const { sut, mocks } = setup();
    const delivered = sut.publish('a/b', '{}', { qos: 1 });
    const refused = sut.publish('a/c', '{}', { qos: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await settled(delivered)).toBe(false);
    mocks.sent[0].callback();
    mocks.sent[1].callback(new ErrorWithReasonCode('Publish error: Not authorized', 0x87));
    await expect(delivered).resolves.toBeUndefined();
    await expect(refused).rejects.toEqual(new BrokerRefusal('publish', 0x87));
  });

  it("sends no more QoS 1 and 2 publishes awaiting acknowledgement than the broker's Receive Maximum; QoS 0 is not counted", async () => {
    const { sut, mocks } = setup(2);
    const [first] = ['first', 'second', 'third'].map((topic, index) => sut.publish(topic, '{}', { qos: index === 1 ? 2 : 1 }));
    void sut.publish('at-most-once', '{}', { qos: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(mocks.sent.map((one) => one.topic).sort()).toEqual(['at-most-once', 'first', 'second']);
    mocks.sent.find((one) => one.topic === 'first')!.callback();
    await expect(first).resolves.toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(mocks.sent.map((one) => one.topic).sort()).toEqual(['at-most-once', 'first', 'second', 'third']);
  });

  it('fails every publish sent or waiting when the connection is lost, with the reason the broker gave, and stays lost', async () => {
    const { sut, mocks } = setup(1);
    const sent = sut.publish('a', '{}', { qos: 1 });
    const waiting = sut.publish('b', '{}', { qos: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    mocks.client.emit('disconnect', { cmd: 'disconnect', reasonCode: 0x95 });
    mocks.client.emit('close');
    await expect(sent).rejects.toEqual(new BrokerRefusal('disconnect', 0x95));
    await expect(waiting).rejects.toEqual(new BrokerRefusal('disconnect', 0x95));
    expect(sut.isLost).toBe(true);
    await expect(sut.publish('c', '{}', { qos: 0 })).rejects.toThrow('Packet too large');
    expect(mocks.sent).toHaveLength(1);
  });

  it('closes once however often it is asked', async () => {
    const { sut, mocks } = setup();
    await Promise.all([sut.close(), sut.close()]);
    expect(mocks.client.end).toHaveBeenCalledTimes(1);
    expect(sut.isLost).toBe(true);
  });
});
