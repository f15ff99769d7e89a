import { mqttConfigSchema, topicProblem } from './config';

/** The issues zod finds in an MQTT config: path and message. */
function problems(config: Record<string, unknown>): { path: string; message: string }[] {
  const result = mqttConfigSchema.safeParse(config);
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('mqtt config', () => {
  it('takes QoS 1 and no retain unless told, and keeps credentials in their own fields', () => {
    expect(mqttConfigSchema.parse({ url: 'mqtt://broker.test:1883', topic: 'devices/{data.device_id}/events' })).toEqual({
      url: 'mqtt://broker.test:1883',
      topic: 'devices/{data.device_id}/events',
      qos: 1,
      retain: false,
    });
    const full = { url: 'mqtts://broker.test', topic: 'a/{event.type}', qos: 2, retain: true, username: 'u', password: 'p', secret: 'whsec_x' };
    expect(mqttConfigSchema.parse(full)).toEqual(full);
    expect(mqttConfigSchema.parse({ url: 'mqtt://[::1]:1883', topic: 't', qos: 0 }).qos).toBe(0);
  });

  it('refuses a bad field by name', () => {
    expect(
      problems({ url: 'http://broker.test', topic: 'a/{event.data}', qos: 3, retain: 'yes', extra: 1 })
        .map((problem) => problem.path)
        .sort(),
    ).toEqual(['', 'qos', 'retain', 'topic', 'url'].sort());
    expect(problems({ topic: 't' })).toEqual([{ path: 'url', message: expect.any(String) }]);
    expect(problems({ url: 'mqtt://broker.test', topic: 't', qos: 3 })).toEqual([{ path: 'qos', message: 'must be 0, 1 or 2' }]);
  });

  it.each(['mqtt://broker.test/devices', 'mqtt://broker.test?clientId=x', 'mqtt://broker.test#x'])('refuses %s: a URL names only the broker', (url) => {
    expect(problems({ url, topic: 't' })).toEqual([{ path: 'url', message: 'must have no path, query or fragment' }]);
  });

  it('refuses credentials in the URL, which answers show: they belong in username and password', () => {
    const found = problems({ url: 'mqtt://user:hunter2@broker.test', topic: 't' });
    expect(found).toEqual([{ path: 'url', message: 'must not carry credentials: use username and password' }]);
    expect(JSON.stringify(found)).not.toContain('hunter2');
  });

  it.each([
    ['a + wildcard', 'devices/+/events'],
    ['a # wildcard', 'devices/#'],
    ['a NUL', 'devices/\u0000'],
  ])('refuses a topic template with %s outside its placeholders', (_what, topic) => {
    expect(problems({ url: 'mqtt://broker.test', topic })).toEqual([{ path: 'topic', message: expect.stringMatching(/^topic (has a wildcard|has a NUL)/) }]);
  });
});

describe('a topic Dispatch publishes to', () => {
  it('is not empty, has no wildcard or NUL, and fits in 65535 bytes', () => {
    expect(topicProblem('devices/d-7/events')).toBeNull();
    expect(topicProblem('')).toBe('is empty');
    expect(topicProblem('a/+/b')).toMatch(/wildcard/);
    expect(topicProblem('a/#')).toMatch(/wildcard/);
    expect(topicProblem('a\u0000b')).toBe('has a NUL character');
    expect(topicProblem('é'.repeat(32_767))).toBeNull(); // 65534 bytes
    expect(topicProblem('é'.repeat(32_768))).toBe('is longer than 65535 bytes');
  });
});
