import { natsConfigSchema } from './config';

/** The issues zod finds in a nats config: path and message. */
function problems(config: Record<string, unknown>): { path: string; message: string }[] {
  const result = natsConfigSchema.safeParse({ url: 'nats://nats.test:4222', subject: 'events.{event.type}', ...config });
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('nats config', () => {
  it('takes a nats:// or tls:// URL, a subject template, and core publishing unless jetstream is set', () => {
    expect(natsConfigSchema.parse({ url: 'nats://nats.test:4222', subject: 'orgs.{organization}.{event.type}.{data.device_id}' })).toEqual({
      url: 'nats://nats.test:4222',
      subject: 'orgs.{organization}.{event.type}.{data.device_id}',
      jetstream: false,
    });
    expect(problems({ url: 'tls://nats.test', jetstream: true, token: 's3cret' })).toEqual([]);
    expect(problems({ url: 'nats://[::1]:4222', username: 'dispatch', password: 'pw' })).toEqual([]);
  });

  it.each([
    ['http://nats.test:4222', 'must be a nats:// or tls:// URL'],
    ['nats.test:4222', 'must be a nats:// or tls:// URL'],
    ['not a url', 'must be an absolute nats:// or tls:// URL (nats://host:4222)'],
    ['nats://user:hunter2@nats.test:4222', 'must not carry credentials: use token, or username and password'],
    ['nats://nats.test:4222/events', 'must be only a host and a port'],
  ])('refuses the URL %s, never repeating it', (url, message) => {
    const found = problems({ url });
    expect(found).toEqual([{ path: 'url', message }]);
    expect(JSON.stringify(found)).not.toContain('hunter2');
  });

  it.each([
    ['events.>', 'has a wildcard (* or >): a message is published to one subject'],
    ['events.*.{event.type}', 'has a wildcard (* or >): a message is published to one subject'],
    ['events {event.type}', 'has whitespace or a control character'],
    ['events..{event.type}', 'has an empty token (a leading, trailing or double dot)'],
    ['{event.type}.', 'has an empty token (a leading, trailing or double dot)'],
  ])('refuses the subject template %s, which no event could make a publish subject', (subject, problem) => {
    expect(problems({ subject })).toEqual([{ path: 'subject', message: `subject template ${problem}` }]);
  });

  it('refuses unknown placeholders, unknown fields and credentials that do not go together, naming each field', () => {
    expect(problems({ subject: 'events.{event.name}', jetstream: 'yes', port: 4222 }).map((problem) => problem.path)).toEqual(['subject', 'jetstream', '']);
    expect(problems({ password: 'pw' })).toEqual([{ path: 'username', message: 'is required with password' }]);
    expect(problems({ token: 't', username: 'u' })).toEqual([{ path: 'token', message: 'cannot be given with username: use one or the other' }]);
  });
});
