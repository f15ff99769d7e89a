import { brokerAddress, rabbitmqConfigSchema, virtualHost } from './config';

/** The issues zod finds in a config: path and message. */
function problems(config: Record<string, unknown>): { path: string; message: string }[] {
  const result = rabbitmqConfigSchema.safeParse(config);
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('rabbitmq config', () => {
  it('takes the contract shape, with a persistent message and the event type as routing key by default', () => {
    expect(rabbitmqConfigSchema.parse({ url: 'amqp://broker.example:5672/orders', exchange: 'events' })).toEqual({
      url: 'amqp://broker.example:5672/orders',
      exchange: 'events',
      routingKey: '{event.type}',
      persistent: true,
    });
  });

  it('moves credentials out of the URL into username and password (decoded), so the URL kept carries none', () => {
    const config = rabbitmqConfigSchema.parse({ url: 'amqp://app:p%40ss%3Aword@broker.example/%2F', exchange: 'events', routingKey: 'x', persistent: false });
    expect(config).toEqual({ url: 'amqp://broker.example/%2F', exchange: 'events', routingKey: 'x', persistent: false, username: 'app', password: 'p@ss:word' });
    // Read again as stored: unchanged.
    expect(rabbitmqConfigSchema.parse(config)).toEqual(config);
  });

  it('refuses credentials given both in the URL and as fields, never repeating them', () => {
    const found = problems({ url: 'amqp://app:leaked-pw@broker.example', exchange: 'events', password: 'other-leaked' });
    expect(found).toEqual([{ path: 'url', message: 'carries credentials while username or password is given too: give them in one place' }]);
    expect(JSON.stringify(found)).not.toContain('leaked');
  });

  it('names each bad field: the URL scheme, query, host, templates, types and unknown fields', () => {
    expect(problems({ url: 'http://broker.example', exchange: '{event.data}', routingKey: 'a.{b', persistent: 'yes', extra: 1 }).map((problem) => problem.path)).toEqual([
      'url',
      'exchange',
      'routingKey',
      'persistent',
      '', // the unknown field, which zod names in its message
    ]);
    expect(problems({ url: 'not a url', exchange: 'e' })).toEqual([{ path: 'url', message: 'must be an amqp:// or amqps:// URL' }]);
    expect(problems({ url: 'amqp://', exchange: 'e' }).map((problem) => problem.path)).toEqual(['url']);
    expect(problems({ url: 'amqp://broker.example/?heartbeat=5', exchange: 'e' })).toEqual([
      { path: 'url', message: 'takes no query or fragment: Dispatch sets the connection options itself' },
    ]);
    expect(problems({ url: 'amqp://broker.example/a/b', exchange: 'e' })).toEqual([
      { path: 'url', message: 'names the virtual host in one path segment (encode "/" as %2F)' },
    ]);
    expect(problems({ url: 'amqp://broker.example' }).map((problem) => problem.path)).toEqual(['exchange']);
  });
});

describe('where a rabbitmq config connects', () => {
  const config = (url: string, credentials: Record<string, string> = {}) => rabbitmqConfigSchema.parse({ url, exchange: 'e', ...credentials });

  it('reads host, port (5672, or 5671 for amqps), virtual host and credentials', () => {
    expect(brokerAddress(config('amqp://u:p@broker.example/orders'))).toEqual({
      protocol: 'amqp',
      hostname: 'broker.example',
      port: 5672,
      vhost: 'orders',
      username: 'u',
      password: 'p',
    });
    expect(brokerAddress(config('amqps://[::1]:6000'))).toEqual({ protocol: 'amqps', hostname: '::1', port: 6000, vhost: '' });
    expect(brokerAddress(config('amqp://h', { username: 'only' }))).toMatchObject({ username: 'only', password: '' });
  });

  it('names the virtual host as the broker does: "/" when the URL has none', () => {
    expect(virtualHost(config('amqp://h'))).toBe('/');
    expect(virtualHost(config('amqp://h/'))).toBe('/');
    expect(virtualHost(config('amqp://h/%2F'))).toBe('/');
    expect(virtualHost(config('amqp://h/team%20a'))).toBe('team a');
  });
});
