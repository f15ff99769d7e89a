import { Logger } from '@nestjs/common';
import type { ClaimedDelivery } from '@dispatch/db';
import type { DestinationSettings, SendResult } from '@dispatch/destinations';
import type { AttemptOutcome } from '@dispatch/domain';
import { AttemptLog } from './attempt-log';
import { AttemptObservers } from './attempt-observers';

function setup(delivery: Partial<ClaimedDelivery> = {}) {
  const mocks = {
    observers: new AttemptObservers(),
    debug: jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined),
    log: jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined),
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
  };
  const sut = new AttemptLog(mocks.observers);
  const claimed: ClaimedDelivery = {
    id: 'dlv_1',
    organizationId: 'org_1',
    eventId: 'evt_1',
    destinationId: 'dst_1',
    attemptNumber: 2,
    trigger: 'scheduled',
    event: { id: 'evt_1', type: 'order.created', data: { card: '4111 1111 1111 1111' }, receivedAt: new Date() },
    correlationId: 'order-42',
    claimedFrom: { status: 'retrying', manualRetryAt: null, nextAttemptAt: null },
    ...delivery,
  };
  const attempt = (result: SendResult, outcome: AttemptOutcome) =>
    mocks.observers.notify({ destination: { id: 'dst_1' } as DestinationSettings, delivery: claimed, attemptId: 'att_1', result, outcome });
  return { sut, mocks, attempt };
}

const IDS = { organizationId: 'org_1', eventId: 'evt_1', deliveryId: 'dlv_1', destinationId: 'dst_1', attemptNumber: 2, attemptId: 'att_1' };

afterEach(() => jest.restoreAllMocks());

describe('AttemptLog', () => {
  it('logs an attempt to be retried at log, with every id, the correlation id, its answer and when it is retried', () => {
    const s = setup();
    s.attempt({ verdict: 'transient', statusCode: 503, durationMs: 12 }, { kind: 'retry', delayMs: 4_000, reason: 'receiver answered 503' });
    expect(s.mocks.log).toHaveBeenCalledWith({
      ...IDS,
      correlationId: 'order-42',
      outcome: 'retry',
      statusCode: 503,
      durationMs: 12,
      retryInMs: 4_000,
      msg: 'Attempt 2 failed, retried in 4 s: receiver answered 503',
    });
    expect(s.mocks.warn).not.toHaveBeenCalled();
  });

  it.each([
    ['failed', { kind: 'failed', reason: 'receiver answered 422' }, 'Attempt 2 failed; the delivery is a dead letter: receiver answered 422'],
    [
      'gone',
      { kind: 'gone', reason: 'receiver answered 410 Gone' },
      'Attempt 2: the receiver is gone; the delivery is a dead letter and the destination disabled: receiver answered 410 Gone',
    ],
  ] as const)('logs a dead letter (%s) at warn', (_name, outcome, msg) => {
    const s = setup();
    s.attempt({ verdict: 'permanent', statusCode: 422, durationMs: 5 }, outcome);
    expect(s.mocks.warn).toHaveBeenCalledWith({ ...IDS, correlationId: 'order-42', outcome: outcome.kind, statusCode: 422, durationMs: 5, msg });
  });

  it('logs a delivered attempt at debug only; an event without a correlation id and an answer without a status leave them out', () => {
    const s = setup({ correlationId: null });
    s.attempt({ verdict: 'delivered', durationMs: 3 }, { kind: 'delivered' });
    expect(s.mocks.debug).toHaveBeenCalledWith({ ...IDS, outcome: 'delivered', durationMs: 3, msg: 'Attempt 2 delivered' });
    expect(s.mocks.log).not.toHaveBeenCalled();
    expect(s.mocks.warn).not.toHaveBeenCalled();
  });

  it("never logs the event's data", () => {
    const s = setup();
    s.attempt({ verdict: 'transient', durationMs: 1, error: 'timeout' }, { kind: 'retry', delayMs: 500, reason: 'timeout' });
    expect(JSON.stringify(s.mocks.log.mock.calls)).not.toContain('4111');
  });
});
