import { loadConfig } from './config';
import { addLogFields, createLogger, pinoLevel, REDACTED } from './logging';
import { nestLogger } from './nest-logger';
import type { DispatchConfig } from './config';

const KEY = Buffer.alloc(32, 7).toString('base64');

/** A logger writing into `mocks.output`; `lines()` parses what it wrote as JSON. */
function setup(settings: Partial<Pick<DispatchConfig, 'logLevel' | 'logFormat'>> = {}) {
  const written: string[] = [];
  const mocks = { output: { write: jest.fn((text: string) => written.push(text)) } };
  const config = { logLevel: 'log' as const, logFormat: 'json' as const, ...settings };
  const sut = createLogger(config, 'worker', mocks.output);
  const lines = () =>
    written
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { sut, mocks, written, lines };
}

describe('the log format', () => {
  it('is json when NODE_ENV is production and pretty otherwise, unless DISPATCH_LOG_FORMAT says', () => {
    const base = { DISPATCH_ENCRYPTION_KEY: KEY };
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).logFormat).toBe('json');
    expect(loadConfig({ ...base }).logFormat).toBe('pretty');
    expect(loadConfig({ ...base, NODE_ENV: 'development' }).logFormat).toBe('pretty');
    expect(loadConfig({ ...base, NODE_ENV: 'production', DISPATCH_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({ ...base, DISPATCH_LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({ ...base, NODE_ENV: 'production', DISPATCH_LOG_FORMAT: '' }).logFormat).toBe('json');
    expect(() => loadConfig({ ...base, DISPATCH_LOG_FORMAT: 'xml' })).toThrow(/DISPATCH_LOG_FORMAT: .*"json"/);
  });

  it('writes json as one object a line, with the level by name, an ISO time, the app and the context', () => {
    const { sut, lines } = setup();
    sut.warn({ context: 'DeliveryProcessor', deliveryId: 'dlv_1' }, 'waits');
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 'warn',
        app: 'worker',
        context: 'DeliveryProcessor',
        deliveryId: 'dlv_1',
        msg: 'waits',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      }),
    ]);
  });

  it('writes pretty lines for people: time, level, context and message on one line, fields after it', () => {
    const { sut, written } = setup({ logFormat: 'pretty' });
    sut.warn({ context: 'DeliveryProcessor', deliveryId: 'dlv_1' }, 'waits');
    sut.info({ context: 'worker' }, 'started');
    expect(written).toEqual([
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: \[DeliveryProcessor\] waits {"deliveryId":"dlv_1"}\n$/),
      // A context that names the app is not repeated.
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: started\n$/),
    ]);
  });
});

describe('LOG_LEVEL', () => {
  it('maps Nest levels to pino levels', () => {
    expect((['error', 'warn', 'log', 'debug', 'verbose'] as const).map(pinoLevel)).toEqual(['error', 'warn', 'info', 'debug', 'trace']);
  });

  it.each([
    ['error', ['error']],
    ['warn', ['error', 'warn']],
    ['log', ['error', 'warn', 'info']],
    ['debug', ['error', 'warn', 'info', 'debug']],
    ['verbose', ['error', 'warn', 'info', 'debug', 'trace']],
  ] as const)('%s writes %j through a Nest logger', (level, written) => {
    const out: string[] = [];
    const sut = nestLogger({ logLevel: level, logFormat: 'json' }, 'api', { write: (text) => out.push(text) });
    sut.error('e', 'Ctx');
    sut.warn('w', 'Ctx');
    sut.log('l', 'Ctx');
    sut.debug('d', 'Ctx');
    sut.verbose('v', 'Ctx');
    expect(out.map((line) => JSON.parse(line).level)).toEqual(written);
  });
});

describe('the Nest logger', () => {
  const capture = (logLevel: DispatchConfig['logLevel']) => {
    const out: string[] = [];
    const sut = nestLogger({ logLevel, logFormat: 'json' }, 'api', { write: (text) => out.push(text) });
    return { sut, lines: () => out.map((line) => JSON.parse(line) as Record<string, unknown>) };
  };

  it("keeps a Logger's context, takes an object as the line's fields, and an Error as err", () => {
    const { sut, lines } = capture('log');
    sut.log('plain', 'RetryDelivery');
    sut.warn({ msg: 'waits', deliveryId: 'dlv_1', attemptNumber: 2 }, 'DeliveryProcessor');
    sut.error(new Error('boom'), 'Scan');
    expect(lines()).toEqual([
      expect.objectContaining({ level: 'info', context: 'RetryDelivery', msg: 'plain' }),
      expect.objectContaining({ level: 'warn', context: 'DeliveryProcessor', msg: 'waits', deliveryId: 'dlv_1', attemptNumber: 2 }),
      expect.objectContaining({ level: 'error', context: 'Scan', err: expect.objectContaining({ message: 'boom', type: 'Error' }) }),
    ]);
  });

  it("writes Nest's wiring lines (modules, routes) at debug, not at log", () => {
    const atLog = capture('log');
    for (const context of ['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']) atLog.sut.log(`wiring of ${context}`, context);
    atLog.sut.log('Dispatch API on http://127.0.0.1:3000', 'api');
    expect(atLog.lines().map((line) => line.msg)).toEqual(['Dispatch API on http://127.0.0.1:3000']);

    const atDebug = capture('debug');
    atDebug.sut.log('Mapped {/v1/events, POST} route', 'RouterExplorer');
    expect(atDebug.lines()).toEqual([expect.objectContaining({ level: 'debug', context: 'RouterExplorer' })]);
  });
});

describe('redaction', () => {
  it('redacts every credential a destination config, a request or a setting can hold, at any of three depths', () => {
    const { sut, lines } = setup();
    sut.info({
      password: 'pw-0',
      config: { url: 'amqp://user:pw-1@broker:5672/vh', password: 'pw-2', username: 'user-3', headers: { 'X-Custom-Secret': 'hdr-4', accept: 'json' } },
      destination: {
        config: { privateKey: 'key-5', passphrase: 'pp-6', secretAccessKey: 'sak-7', accountKey: 'ak-8', apiKey: 'api-9', token: 'tok-10', headers: { a: 'hdr-11' } },
      },
      req: { headers: { authorization: 'Bearer tok-12', cookie: 'c-13', 'x-api-key': 'dsp_14', 'proxy-authorization': 'p-15' } },
      settings: { databaseUrl: 'postgresql://admin:pw-16@db:5432/dispatch', redisUrl: 'redis://:pw-17@redis:6379', bootstrapKey: 'dsp_18', secret: 'whsec_19' },
      secrets: ['whsec_20'],
      deliveryId: 'dlv_kept',
    });
    const [line] = lines();
    const text = JSON.stringify(line);
    for (const secret of [
      'pw-0',
      'pw-1',
      'pw-2',
      'user-3',
      'hdr-4',
      'key-5',
      'pp-6',
      'sak-7',
      'ak-8',
      'api-9',
      'tok-10',
      'hdr-11',
      'tok-12',
      'c-13',
      'dsp_14',
      'p-15',
      'pw-16',
      'pw-17',
      'dsp_18',
      'whsec_19',
      'whsec_20',
    ]) {
      expect(text).not.toContain(secret);
    }
    // What is not a credential stays, a connection string keeps where it goes.
    expect(line).toMatchObject({
      deliveryId: 'dlv_kept',
      password: REDACTED,
      config: { url: `amqp://${REDACTED}@broker:5672/vh`, headers: { 'X-Custom-Secret': REDACTED, accept: REDACTED } },
      req: { headers: { authorization: REDACTED } },
      settings: { databaseUrl: `postgresql://${REDACTED}@db:5432/dispatch`, redisUrl: `redis://${REDACTED}@redis:6379` },
    });
  });

  it('takes the user and password out of a connection string in a message', () => {
    const { sut, lines } = setup();
    sut.warn('Cannot reach amqp://guest:hunter2@broker:5672/ (ECONNREFUSED); http://example.com/a@b stays');
    expect(lines()[0].msg).toBe(`Cannot reach amqp://${REDACTED}@broker:5672/ (ECONNREFUSED); http://example.com/a@b stays`);
  });
});

describe('addLogFields', () => {
  it("adds a source's fields to every line written after it, and a source that throws adds nothing", () => {
    const { sut, lines } = setup();
    sut.info('before');
    const removers = [
      addLogFields(() => ({ traceId: 't-1', spanId: 's-1' })),
      addLogFields(() => {
        throw new Error('no span');
      }),
    ];
    sut.info('after');
    removers.forEach((remove) => remove());
    sut.info('removed');
    expect(lines()).toEqual([
      expect.not.objectContaining({ traceId: expect.anything() }),
      expect.objectContaining({ msg: 'after', traceId: 't-1', spanId: 's-1' }),
      expect.not.objectContaining({ traceId: expect.anything() }),
    ]);
  });
});
