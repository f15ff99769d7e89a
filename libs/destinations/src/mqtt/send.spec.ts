import { Webhook } from 'standardwebhooks';
import { generateSigningSecret, retryPolicySchema } from '@dispatch/domain';
import { EgressGuard } from '../egress';
import type { SendRequest } from '../kind';
import { MqttConfig, mqttConfigSchema } from './config';
import { MqttConnection } from './connection';
import { MqttSender, publishOptions } from './send';
import { BrokerRefusal } from './verdict';
import { emptyFileStore } from '@dispatch/testing';

type FakeConnection = { connack: { properties?: Record<string, unknown> }; isLost: boolean; publish: jest.Mock; close: jest.Mock };

function setup(timeoutMs = 1_000) {
  const opened: FakeConnection[] = [];
  const mocks = {
    connack: { properties: {} as Record<string, unknown> },
    publish: jest.fn(async (_topic: string, _payload: string, _options: unknown) => undefined),
    open: jest.spyOn(MqttConnection, 'open').mockImplementation(async () => {
      const connection: FakeConnection = { connack: mocks.connack, isLost: false, publish: mocks.publish, close: jest.fn(async () => undefined) };
      opened.push(connection);
      return connection as unknown as MqttConnection;
    }),
  };
  const secret = generateSigningSecret();
  const request = (config: Partial<MqttConfig> = {}, destinationId = 'dst_1'): SendRequest<MqttConfig> => ({
    destinationId,
    organizationId: 'org_1',
    config: mqttConfigSchema.parse({ url: 'mqtt://broker.test:1883', topic: 'orgs/{organization}/devices/{data.device_id}/{event.type}', ...config }),
    secrets: [secret],
    retryPolicy: retryPolicySchema.parse({}),
    deliveryId: 'dlv_1',
    attemptNumber: 1,
    event: { id: 'evt_1', type: 'reading.taken', data: { device_id: 'd-7', wildcard: 'a/#' }, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  });
  const sut = new MqttSender({ timeoutMs, replyMaxBytes: 1_024, egress: new EgressGuard([]), files: emptyFileStore() });
  return { sut, mocks, opened, request, secret };
}

const live = () => new AbortController().signal;

afterEach(() => jest.restoreAllMocks());

describe('the mqtt sender', () => {
  it('publishes the signed webhook JSON to the filled topic with the config QoS and retain flag, the signature headers as user properties', async () => {
    const { sut, mocks, request, secret } = setup();
    const result = await sut.send(request({ qos: 2, retain: true }), live());
    expect(result).toEqual({ verdict: 'delivered', durationMs: expect.any(Number) });
    const [topic, body, options] = mocks.publish.mock.calls[0];
    expect(topic).toBe('orgs/org_1/devices/d-7/reading.taken');
    expect(JSON.parse(body)).toEqual({ id: 'evt_1', type: 'reading.taken', timestamp: '2026-01-02T03:04:05.000Z', data: { device_id: 'd-7', wildcard: 'a/#' } });
    expect(options).toMatchObject({ qos: 2, retain: true, properties: { contentType: 'application/json', payloadFormatIndicator: true } });
    const headers = (options as ReturnType<typeof publishOptions>).properties!.userProperties as Record<string, string>;
    expect(headers['webhook-id']).toBe('evt_1');
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('keeps one connection per destination across attempts, and closes it when the queue goes idle', async () => {
    const { sut, mocks, opened, request } = setup();
    await sut.send(request(), live());
    await sut.send(request(), live());
    await sut.send(request({}, 'dst_2'), live());
    expect(mocks.open).toHaveBeenCalledTimes(2);
    await sut.release('dst_1');
    expect(opened[0].close).toHaveBeenCalled();
    expect(opened[1].close).not.toHaveBeenCalled();
    await sut.close();
    expect(opened[1].close).toHaveBeenCalled();
  });

  it('fails at once, connecting to nothing, when the topic cannot be filled or is not one a message can go to', async () => {
    const { sut, mocks, request } = setup();
    expect(await sut.send(request({ topic: 'devices/{data.serial}' }), live())).toMatchObject({
      verdict: 'permanent',
      error: "topic: the event's data has no value at {data.serial}",
    });
    expect(await sut.send(request({ topic: 'devices/{data.wildcard}' }), live())).toMatchObject({
      verdict: 'permanent',
      error: expect.stringContaining('topic "devices/a/#" has a wildcard'),
    });
    expect(mocks.open).not.toHaveBeenCalled();
  });

  it('fails at once when the broker says it keeps no retained messages or takes a lower QoS', async () => {
    const { sut, mocks, request } = setup();
    mocks.connack.properties = { retainAvailable: false, maximumQoS: 1 };
    expect(await sut.send(request({ retain: true }), live())).toMatchObject({ verdict: 'permanent', error: expect.stringContaining('retained') });
    expect(await sut.send(request({ qos: 2 }), live())).toMatchObject({ verdict: 'permanent', error: expect.stringContaining('QoS 1 at most') });
    expect(await sut.send(request({ qos: 1 }), live())).toMatchObject({ verdict: 'delivered' });
    expect(mocks.publish).toHaveBeenCalledTimes(1);
  });

  it('keeps the connection after the broker refused a message, and drops it when the connection was lost', async () => {
    const { sut, mocks, opened, request } = setup();
    mocks.publish.mockRejectedValueOnce(new BrokerRefusal('publish', 0x87));
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'permanent', statusCode: 0x87 });
    mocks.publish.mockRejectedValueOnce(Object.assign(new Error('the broker closed the connection'), { code: 'ECONNRESET' }));
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'transient', error: expect.stringContaining('ECONNRESET') });
    expect(opened).toHaveLength(1);
    expect(opened[0].close).toHaveBeenCalled();
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'delivered' });
    expect(opened).toHaveLength(2);
  });

  it('opens another connection when the one held was lost while idle, without failing the attempt', async () => {
    const { sut, opened, request } = setup();
    await sut.send(request(), live());
    opened[0].isLost = true;
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'delivered' });
    expect(opened).toHaveLength(2);
  });

  it('gives up on an acknowledgement that does not come within the attempt timeout, and drops the connection', async () => {
    const { sut, mocks, opened, request } = setup(50);
    mocks.publish.mockImplementationOnce(() => new Promise(() => undefined));
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'transient', error: 'timeout: The attempt took longer than 50 ms' });
    expect(opened[0].close).toHaveBeenCalled();
  });

  it('tests with a connection of its own, closed after, and publishes nothing', async () => {
    const { sut, mocks, opened, request } = setup();
    expect(await sut.test(request(), live())).toMatchObject({ verdict: 'delivered' });
    expect(mocks.publish).not.toHaveBeenCalled();
    expect(opened[0].close).toHaveBeenCalled();
    mocks.open.mockRejectedValueOnce(new BrokerRefusal('connect', 0x86));
    expect(await sut.test(request(), live())).toMatchObject({ verdict: 'permanent', error: 'the broker refused the connection: Bad User Name or Password (0x86)' });
    // The test event's data is not a real event's: a topic filled from data is checked when delivering.
    expect(await sut.test(request({ topic: 'devices/{data.serial}' }), live())).toMatchObject({ verdict: 'delivered' });
  });
});
