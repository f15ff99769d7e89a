import { describeKind } from '../registry';
import { emailConfigSchema, providerBase } from './config';
import { emailKind } from '.';

/** The issues zod finds in an email config: path and message. */
function problems(config: Record<string, unknown>): { path: string; message: string }[] {
  const result = emailConfigSchema.safeParse(config);
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

const smtp = { transport: 'smtp', host: 'smtp.example.com', from: 'dispatch@example.com', to: ['ops@example.com'] };

describe('email config', () => {
  it('fills the defaults of an SMTP config', () => {
    expect(emailConfigSchema.parse(smtp)).toEqual({
      ...smtp,
      port: 587,
      secure: false,
      requireTls: false,
      subject: '{event.type}',
      attach: true,
      fileName: '{event.id}.json',
    });
  });

  it('names each bad field', () => {
    expect(problems({ ...smtp, to: [], from: 'nobody', subject: '{event.nope}', port: 0 }).map((problem) => problem.path)).toEqual(['port', 'from', 'to', 'subject']);
    expect(problems({ ...smtp, fileName: 'a/b.json' })).toEqual([{ path: 'fileName', message: expect.stringContaining('file name') }]);
    expect(problems({ transport: 'pigeon', from: 'a@example.com', to: ['b@example.com'] })).toEqual([{ path: 'transport', message: expect.any(String) }]);
  });

  it('takes an API key for the providers, a region and an access key id for SES, and an endpoint without credentials', () => {
    const common = { from: 'a@example.com', to: ['b@example.com'] };
    expect(problems({ transport: 'sendgrid', apiKey: 'SG.x', ...common })).toEqual([]);
    expect(problems({ transport: 'resend', ...common }).map((problem) => problem.path)).toEqual(['apiKey']);
    expect(problems({ transport: 'ses', apiKey: 'k', ...common }).map((problem) => problem.path)).toEqual(['region', 'accessKeyId']);
    expect(problems({ transport: 'resend', apiKey: 'k', endpoint: 'https://user:pw@api.example.com', ...common })).toEqual([
      { path: 'endpoint', message: 'must not carry credentials: use apiKey' },
    ]);
    expect(problems({ transport: 'sendgrid', apiKey: 'k', host: 'smtp.example.com', ...common })).toEqual([{ path: '', message: expect.stringContaining('host') }]);
  });

  it('calls each provider at its own API unless the config names an endpoint', () => {
    const common = { from: 'a@example.com', to: ['b@example.com'], apiKey: 'k' };
    const base = (config: Record<string, unknown>) => providerBase(emailConfigSchema.parse(config) as Parameters<typeof providerBase>[0]);
    expect(base({ transport: 'sendgrid', ...common })).toBe('https://api.sendgrid.com');
    expect(base({ transport: 'resend', ...common })).toBe('https://api.resend.com');
    expect(base({ transport: 'ses', region: 'eu-west-1', accessKeyId: 'AKIA', ...common })).toBe('https://email.eu-west-1.amazonaws.com');
    expect(base({ transport: 'resend', endpoint: 'http://127.0.0.1:9/', ...common })).toBe('http://127.0.0.1:9');
  });

  it('names the host each config connects to, for the egress check', () => {
    expect(emailKind.endpoints(emailConfigSchema.parse({ ...smtp, host: '10.0.0.1' }))).toEqual([{ path: 'host', host: '10.0.0.1' }]);
    expect(emailKind.endpoints(emailConfigSchema.parse({ transport: 'resend', apiKey: 'k', endpoint: 'http://10.0.0.2/', from: 'a@x.io', to: ['b@x.io'] }))).toEqual([
      { path: 'endpoint', host: '10.0.0.2' },
    ]);
  });

  it('describes one form per transport in its JSON Schema, told apart by transport', () => {
    const schema = describeKind(emailKind).configSchema as { oneOf?: { properties: Record<string, { const?: string }> }[]; anyOf?: unknown };
    const branches = schema.oneOf ?? (schema.anyOf as typeof schema.oneOf)!;
    expect(branches.map((branch) => branch.properties.transport.const)).toEqual(['smtp', 'sendgrid', 'resend', 'ses']);
    expect(Object.keys(branches[0].properties)).toEqual([
      'transport',
      'host',
      'port',
      'secure',
      'requireTls',
      'username',
      'password',
      'from',
      'to',
      'subject',
      'attach',
      'fileName',
    ]);
  });
});
