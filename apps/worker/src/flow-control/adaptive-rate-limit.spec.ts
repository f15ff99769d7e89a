import { Logger } from '@nestjs/common';
import type { DestinationSettings } from '@dispatch/destinations';
import type { AdaptiveRates } from '@dispatch/queue';
import { AttemptObservers, AttemptReport } from '../delivery/attempt-observers';
import { AdaptiveRateLimit } from './adaptive-rate-limit';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const ADAPTIVE = { max: 10, durationMs: 1000, adaptive: true };

function setup() {
  const rates = { slowDown: jest.fn(async () => 5), climb: jest.fn(async () => 10) };
  const observers = new AttemptObservers();
  jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  const sut = new AdaptiveRateLimit(rates as unknown as AdaptiveRates, observers);
  return { sut, mocks: { rates, observers } };
}

function report(rateLimit: DestinationSettings['rateLimit'], result: Partial<AttemptReport['result']>): AttemptReport {
  return {
    destination: { id: 'dst_A', rateLimit } as DestinationSettings,
    delivery: {} as AttemptReport['delivery'],
    attemptId: 'att_1',
    result: { verdict: 'delivered', durationMs: 5, ...result },
    outcome: { kind: 'delivered' },
  };
}

describe('AdaptiveRateLimit', () => {
  beforeEach(() => jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  it('lowers the shared rate when an adaptive destination answers 429 or Retry-After', () => {
    const { mocks } = setup();
    mocks.observers.notify(report(ADAPTIVE, { verdict: 'transient', statusCode: 429 }));
    mocks.observers.notify(report(ADAPTIVE, { verdict: 'transient', statusCode: 503, retryAfterMs: 2000 }));
    expect(mocks.rates.slowDown).toHaveBeenCalledTimes(2);
    expect(mocks.rates.slowDown).toHaveBeenCalledWith('dst_A', ADAPTIVE, NOW);
    expect(mocks.rates.climb).not.toHaveBeenCalled();
  });

  it('lets the rate climb while the receiver keeps up, asking Redis at most once per window', () => {
    const { mocks } = setup();
    mocks.observers.notify(report(ADAPTIVE, { statusCode: 200 }));
    mocks.observers.notify(report(ADAPTIVE, { statusCode: 200 }));
    expect(mocks.rates.climb).toHaveBeenCalledTimes(1);
    jest.setSystemTime(NOW + 1000);
    mocks.observers.notify(report(ADAPTIVE, { verdict: 'transient', statusCode: 500 }));
    expect(mocks.rates.climb).toHaveBeenCalledTimes(2);
    expect(mocks.rates.climb).toHaveBeenLastCalledWith('dst_A', ADAPTIVE, NOW + 1000);
  });

  it('leaves destinations with a fixed rate limit, or none, alone', () => {
    const { mocks } = setup();
    mocks.observers.notify(report({ ...ADAPTIVE, adaptive: false }, { verdict: 'transient', statusCode: 429 }));
    mocks.observers.notify(report(null, { verdict: 'transient', statusCode: 429 }));
    expect(mocks.rates.slowDown).not.toHaveBeenCalled();
    expect(mocks.rates.climb).not.toHaveBeenCalled();
  });
});
