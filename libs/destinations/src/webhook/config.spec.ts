import { secretHeaderNames, webhookConfigSchema } from './config';

const URL = 'https://receiver.test/hook';
const CREDENTIAL = 'Bearer leaked-0123456789';

/** The issues zod finds in a webhook config with these headers: path and message. */
function problems(config: Record<string, unknown>): { path: string; message: string }[] {
  const result = webhookConfigSchema.safeParse({ url: URL, ...config });
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('webhook config', () => {
  it('accepts custom headers, with any value HTTP can carry (tabs, Latin-1)', () => {
    expect(problems({ headers: { authorization: CREDENTIAL, 'x-team': 'a\tb é' } })).toEqual([]);
  });

  it.each([
    ['CR LF', `${CREDENTIAL}\r\nx-injected: 1`],
    ['LF', `${CREDENTIAL}\n`],
    ['NUL', `${CREDENTIAL}\u0000`],
    ['DEL', `${CREDENTIAL}\u007f`],
    ['a character above U+00FF', `${CREDENTIAL}€`],
  ])('refuses a header value with %s, naming the header and never repeating the value', (_what, value) => {
    const found = problems({ headers: { Authorization: value } });
    expect(found).toEqual([{ path: 'headers.Authorization', message: expect.stringContaining('a header cannot carry') }]);
    expect(JSON.stringify(found)).not.toContain('leaked');
  });

  it('never repeats a value that is too long or not text', () => {
    const found = problems({ headers: { authorization: `${CREDENTIAL}${'x'.repeat(4096)}`, cookie: 42 } });
    expect(found.map((problem) => problem.path).sort()).toEqual(['headers.authorization', 'headers.cookie']);
    expect(JSON.stringify(found)).not.toMatch(/leaked|42/);
  });

  it.each(['connection', 'Keep-Alive', 'transfer-encoding', 'upgrade', 'expect', 'TE', 'trailer', 'proxy-connection', 'Host', 'content-length'])(
    'refuses %s, a header the HTTP client manages',
    (name) => {
      expect(problems({ headers: { [name]: 'x' } })).toEqual([{ path: `headers.${name}`, message: `"${name}" is managed by the HTTP connection and cannot be set` }]);
    },
  );

  it.each(['content-type', 'User-Agent', 'webhook-signature', 'webhook-id', 'webhook-timestamp', 'dispatch-delivery-id', 'dispatch-attempt', 'dispatch-event-type'])(
    'refuses %s, a header Dispatch sets',
    (name) => {
      expect(problems({ headers: { [name]: 'x' } })).toEqual([{ path: `headers.${name}`, message: `"${name}" is set by Dispatch and cannot be overridden` }]);
    },
  );

  it('refuses a header given twice in different cases, and bad header names', () => {
    expect(problems({ headers: { Authorization: 'a', authorization: 'b', 'bad name': 'c' } })).toEqual([
      { path: 'headers.authorization', message: 'is given twice (header names are case-insensitive)' },
      { path: 'headers.bad name', message: '"bad name" is not a valid header name' },
    ]);
  });

  it('takes secretHeaders as a list of header names', () => {
    expect(problems({ secretHeaders: ['x-signature-key'] })).toEqual([]);
    expect(problems({ secretHeaders: ['ok', 'not ok'] })).toEqual([{ path: 'secretHeaders.1', message: '"not ok" is not a valid header name' }]);
    expect(problems({ secretHeaders: 'x-signature-key' })).toEqual([{ path: 'secretHeaders', message: expect.any(String) }]);
  });
});

describe('secretHeaderNames', () => {
  it('names the usual credential headers and those in secretHeaders, in any case, as the config spells them', () => {
    const headers = { Authorization: 'a', 'Proxy-Authorization': 'b', COOKIE: 'c', 'x-api-key': 'd', 'X-Signature-Key': 'e', 'x-team': 'f' };
    expect(secretHeaderNames({ headers, secretHeaders: ['x-signature-KEY'] })).toEqual([
      'Authorization',
      'Proxy-Authorization',
      'COOKIE',
      'x-api-key',
      'X-Signature-Key',
    ]);
    expect(secretHeaderNames({ headers: { 'x-team': 'f' } })).toEqual([]);
  });
});
