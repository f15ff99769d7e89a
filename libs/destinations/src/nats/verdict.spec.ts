import { ErrorCode, NatsError } from 'nats';
import { EgressRefusedError } from '../egress';
import { TemplateError } from '../messages';
import { SubjectError } from './subject';
import { NoStreamError, natsFailure, PublishRefusedError } from './verdict';

/** A JetStream API error as the client throws it for a stream's negative acknowledgement. */
function apiError(code: number, errCode: number, description: string): NatsError {
  const error = new NatsError(String(code), String(code));
  error.api_error = { code, err_code: errCode, description };
  return error;
}

const core = { subject: 'events.order.paid', jetstream: false, tls: false };
const jetstream = { ...core, jetstream: true };

describe('what a failed NATS publish means', () => {
  it('fails at once when the server refuses the credentials, and drops the connection', () => {
    for (const code of [ErrorCode.AuthorizationViolation, ErrorCode.AuthenticationExpired, ErrorCode.AccountExpired]) {
      expect(natsFailure(new NatsError("'Authorization Violation'", code), core)).toEqual({
        verdict: 'permanent',
        error: `not authorized (${code}): the server refused the credentials: 'Authorization Violation'`,
        broken: true,
      });
    }
  });

  it('fails at once on a JetStream publish nobody answers: no stream captures the subject', () => {
    expect(natsFailure(NatsError.errorForCode(ErrorCode.NoResponders), jetstream)).toEqual({
      verdict: 'permanent',
      error: 'no JetStream stream captures subject "events.order.paid" (503 no responders)',
      broken: false,
    });
    expect(natsFailure(new NoStreamError('events.x'), jetstream)).toMatchObject({
      verdict: 'permanent',
      error: 'no JetStream stream captures subject "events.x" (503 no responders)',
    });
  });

  it('retries a full stream (its 503 carries an API error) and fails at once on a message larger than the stream takes', () => {
    expect(natsFailure(apiError(503, 10077, 'maximum messages exceeded'), jetstream)).toEqual({
      verdict: 'transient',
      error: 'JetStream error 503/10077: maximum messages exceeded',
      broken: false,
    });
    expect(natsFailure(apiError(400, 10054, 'message size exceeds maximum allowed'), jetstream)).toMatchObject({ verdict: 'permanent' });
    expect(natsFailure(NatsError.errorForCode(ErrorCode.MaxPayloadExceeded), core)).toMatchObject({
      verdict: 'permanent',
      error: expect.stringContaining('max_payload'),
    });
  });

  it('retries refused, closed and timed out connections, dropping the connection', () => {
    const refused = NatsError.errorForCode(ErrorCode.ConnectionRefused, Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4222'), { code: 'ECONNREFUSED' }));
    expect(natsFailure(refused, core)).toEqual({
      verdict: 'transient',
      error: 'connection error (CONNECTION_REFUSED): connect ECONNREFUSED 127.0.0.1:4222',
      broken: true,
    });
    const cutEarly = NatsError.errorForCode(ErrorCode.ConnectionRefused, new Error('node provided an undefined error!'));
    expect(natsFailure(cutEarly, core).error).toBe('connection error (CONNECTION_REFUSED): the connection closed before the server answered');
    expect(natsFailure(NatsError.errorForCode(ErrorCode.ConnectionClosed), jetstream)).toMatchObject({ verdict: 'transient', broken: true });
    expect(natsFailure(NatsError.errorForCode(ErrorCode.Timeout), jetstream)).toEqual({ verdict: 'transient', error: 'timeout (TIMEOUT)', broken: true });
    expect(natsFailure(new DOMException('The attempt took longer than 50 ms', 'TimeoutError'), core)).toEqual({
      verdict: 'transient',
      error: 'timeout: The attempt took longer than 50 ms',
      broken: true,
    });
  });

  it('retries an address the egress guard refuses, with its message as the error', () => {
    const refusal = new EgressRefusedError('nats.test', true);
    expect(natsFailure(refusal, core)).toEqual({ verdict: 'transient', error: refusal.message, broken: true });
  });

  it('fails at once on a template the event cannot fill, an invalid subject, a refused publish, and a TLS mismatch', () => {
    expect(natsFailure(new TemplateError("the event's data has no value at {data.x}"), core)).toMatchObject({
      verdict: 'permanent',
      error: "the event's data has no value at {data.x}",
    });
    expect(natsFailure(new SubjectError('a b', 'has whitespace or a control character'), core)).toMatchObject({
      verdict: 'permanent',
      error: 'subject "a b" has whitespace or a control character',
    });
    expect(natsFailure(new PublishRefusedError('events.x'), core)).toMatchObject({
      verdict: 'permanent',
      error: 'not permitted to publish to "events.x" (Permissions Violation)',
    });
    const tls = new NatsError('tls', ErrorCode.ServerOptionNotAvailable);
    expect(natsFailure(tls, core)).toMatchObject({ verdict: 'permanent', error: 'tls error: the server requires TLS (use a tls:// URL)' });
    expect(natsFailure(tls, { ...core, tls: true })).toMatchObject({ verdict: 'permanent', error: 'tls error: the server does not offer TLS (use a nats:// URL)' });
  });
});
