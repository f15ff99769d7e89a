import { adaptiveRateAt, asksToSlowDown, rateIncrement, slowedDown } from './adaptive-rate';

const LIMIT = { max: 100, durationMs: 1000 };
const T0 = 1_000_000;

function setup(limit = LIMIT) {
  return {
    sut: {
      rateAt: (state: Parameters<typeof adaptiveRateAt>[0], now: number) => adaptiveRateAt(state, limit, now),
      slowDown: (state: Parameters<typeof slowedDown>[0], now: number) => slowedDown(state, limit, now),
    },
    mocks: { limit },
  };
}

describe('adaptive rate', () => {
  it('sends at max until the receiver first asks to slow down', () => {
    const { sut } = setup();
    expect(sut.rateAt(null, T0)).toBe(100);
  });

  it('halves the rate on a 429 and climbs back by a tenth of max per window without one', () => {
    const { sut } = setup();
    const lowered = sut.slowDown(null, T0);
    expect(lowered).toEqual({ rate: 50, changedAt: T0 });
    expect([0, 999, 1000, 2500, 5000, 60_000].map((after) => sut.rateAt(lowered, T0 + after))).toEqual([50, 50, 60, 70, 100, 100]);
  });

  it('lowers again from the rate it had climbed back to', () => {
    const { sut } = setup();
    const first = sut.slowDown(null, T0);
    expect(sut.slowDown(first, T0 + 3000)).toEqual({ rate: 40, changedAt: T0 + 3000 });
  });

  it('lowers at most once per window: answers of attempts already in flight do not halve it again', () => {
    const { sut } = setup();
    const first = sut.slowDown(null, T0);
    expect(sut.slowDown(first, T0 + 999)).toBeNull();
    expect(sut.slowDown(first, T0 + 1000)).toEqual({ rate: 30, changedAt: T0 + 1000 });
  });

  it('never goes below 1 per window', () => {
    const { sut } = setup({ max: 10, durationMs: 1000 });
    let state = sut.slowDown(null, T0);
    for (let i = 1; i <= 20; i += 1) state = sut.slowDown(state, T0 + i * 1000) ?? state;
    expect(state?.rate).toBe(1);
  });

  it('climbs by at least 1 a window for a small max, and a lowered max caps a stored rate', () => {
    expect(rateIncrement({ max: 3 })).toBe(1);
    const { sut } = setup({ max: 3, durationMs: 60_000 });
    const lowered = sut.slowDown(null, T0);
    expect(lowered?.rate).toBe(1);
    expect(sut.rateAt(lowered, T0 + 60_000)).toBe(2);
    expect(adaptiveRateAt({ rate: 80, changedAt: T0 }, { max: 10, durationMs: 1000 }, T0)).toBe(10);
  });

  it('takes a 429, or any answer with Retry-After, as a request to slow down; other failures not', () => {
    expect(asksToSlowDown({ statusCode: 429 })).toBe(true);
    expect(asksToSlowDown({ statusCode: 503, retryAfterMs: 2000 })).toBe(true);
    expect(asksToSlowDown({ statusCode: 500 })).toBe(false);
    expect(asksToSlowDown({})).toBe(false);
  });
});
