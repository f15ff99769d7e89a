import { describeError, egressFailure } from './connection-errors';
import { EgressGuard, EgressRefusedError } from './egress';

describe('egressFailure', () => {
  const sut = egressFailure;

  it("marks the egress guard's refusal, whether thrown as it is or wrapped by a client library", () => {
    const refusal = new EgressRefusedError('localhost', true);
    expect(sut(refusal)).toEqual({ failure: 'egress_refused' });
    expect(sut(Object.assign(new TypeError('fetch failed'), { cause: refusal }))).toEqual({ failure: 'egress_refused' });
  });

  it('marks the refusal of a literal address as the guard makes it when connecting', () => {
    const guard = new EgressGuard([]);
    expect(sut(guard.hostRefusal('127.0.0.1'))).toEqual({ failure: 'egress_refused' });
  });

  it('says nothing of other failures: timeouts, refused connections, anything that is not an error', () => {
    expect(sut(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }))).toEqual({});
    expect(sut(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toEqual({});
    expect(sut('a string')).toEqual({});
    expect(sut(null)).toEqual({});
  });

  it('goes with the text describeError keeps for the attempt', () => {
    const wrapped = Object.assign(new TypeError('fetch failed'), { cause: new EgressRefusedError('localhost', true) });
    expect(describeError(wrapped)).toMatch(/^connection error \(EGRESS_NOT_ALLOWED\): localhost resolves to an address that is not allowed/);
  });
});
