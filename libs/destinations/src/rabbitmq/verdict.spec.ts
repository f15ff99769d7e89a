import { rabbitmqConfigSchema } from './config';
import { brokerFailure, withoutCredentials } from './verdict';

/** amqplib's errors as it reports them (messages copied from RabbitMQ 3.10 on this machine). */
const amqplib = {
  badLogin: new Error(
    'Handshake terminated by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."',
  ),
  vhostRefused: new Error('Expected ConnectionOpenOk; got <ConnectionClose channel:0>'),
  channelClosed: (code: number, text: string) =>
    Object.assign(new Error(`Channel closed by server: ${code} (${text.split(' ')[0].replace('_', '-')}) with message "${text}"`), { code }),
  refused: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5999'), { code: 'ECONNREFUSED', errno: -111, syscall: 'connect' }),
  timedOut: new Error('connect ETIMEDOUT'),
  forced: Object.assign(
    new Error('Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure with reason \'shutdown\'"'),
    {
      code: 320,
    },
  ),
};

function setup(url = 'amqp://app-user:s3cret-pw@broker.example/orders') {
  return { sut: brokerFailure, config: rabbitmqConfigSchema.parse({ url, exchange: 'events' }) };
}

describe('what a RabbitMQ failure means', () => {
  it('fails for good on refused credentials, naming the refusal without the credentials', () => {
    const { sut, config } = setup();
    expect(sut(amqplib.badLogin, config)).toEqual({
      verdict: 'permanent',
      statusCode: 403,
      error: 'the broker refused the credentials: ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
    });
  });

  it('fails for good when the broker will not open the virtual host, naming it', () => {
    const { sut, config } = setup();
    expect(sut(amqplib.vhostRefused, config)).toEqual({
      verdict: 'permanent',
      error: 'the broker refused to open virtual host "orders": it does not exist or this user may not use it',
    });
  });

  it('fails for good on a missing exchange (404), access refused (403) and a precondition failed (406, a message too large)', () => {
    const { sut, config } = setup();
    expect(sut(amqplib.channelClosed(404, "NOT_FOUND - no exchange 'events' in vhost 'orders'"), config)).toEqual({
      verdict: 'permanent',
      statusCode: 404,
      error: "NOT_FOUND - no exchange 'events' in vhost 'orders' (the exchange must exist: Dispatch does not declare it)",
    });
    const denied = sut(amqplib.channelClosed(403, "ACCESS_REFUSED - access to exchange 'events' in vhost 'orders' refused for user 'app-user'"), config);
    expect(denied).toEqual({
      verdict: 'permanent',
      statusCode: 403,
      error: "ACCESS_REFUSED - access to exchange 'events' in vhost 'orders' refused for user '********'",
    });
    expect(sut(amqplib.channelClosed(406, 'PRECONDITION_FAILED - message size 200000000 is larger than configured max size 134217728'), config)).toMatchObject({
      verdict: 'permanent',
      statusCode: 406,
    });
  });

  it('retries a refused or lost connection, a timeout and a broker closing the connection', () => {
    const { sut, config } = setup();
    expect(sut(amqplib.refused, config)).toEqual({ verdict: 'transient', error: 'connection error (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:5999' });
    expect(sut(new Error('Socket closed abruptly during opening handshake'), config)).toEqual({
      verdict: 'transient',
      error: 'connection error: Socket closed abruptly during opening handshake',
    });
    expect(sut(amqplib.timedOut, config)).toEqual({ verdict: 'transient', error: 'timeout: connect ETIMEDOUT' });
    expect(sut(amqplib.forced, config)).toMatchObject({ verdict: 'transient', statusCode: 320 });
    expect(sut(new Error('Handshake terminated by server: 541 (INTERNAL-ERROR) with message "INTERNAL_ERROR"'), config)).toMatchObject({
      verdict: 'transient',
      statusCode: 541,
    });
  });

  it("retries the egress guard's refusal, with its message", () => {
    const { sut, config } = setup();
    const refusal = Object.assign(new Error('10.0.0.1 is not an allowed address: …'), { code: 'EGRESS_NOT_ALLOWED' });
    expect(sut(refusal, config)).toEqual({ verdict: 'transient', error: 'connection error (EGRESS_NOT_ALLOWED): 10.0.0.1 is not an allowed address: …' });
  });
});

describe('withoutCredentials', () => {
  it('replaces the user the broker quotes and the password anywhere, and leaves other words alone', () => {
    const credentials = { username: 'app', password: 'pw-123' };
    expect(withoutCredentials("refused for user 'app' in the app vhost (pw-123)", credentials)).toBe("refused for user '********' in the app vhost (********)");
    expect(withoutCredentials('nothing to hide', {})).toBe('nothing to hide');
  });
});
