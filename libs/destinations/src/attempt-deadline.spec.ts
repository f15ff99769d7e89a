import { attemptDeadline, untilDeadline } from './attempt-deadline';

function setup(timeoutMs = 1_000) {
  const mocks = { shutdown: new AbortController() };
  const sut = attemptDeadline(mocks.shutdown.signal, timeoutMs);
  return { sut, mocks };
}

describe('attemptDeadline', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('aborts the attempt with a TimeoutError once its time is up', () => {
    const { sut } = setup(1_000);
    jest.advanceTimersByTime(999);
    expect(sut.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(sut.signal.aborted).toBe(true);
    expect((sut.signal.reason as Error).name).toBe('TimeoutError');
  });

  it('aborts the attempt at shutdown, with the shutdown reason', () => {
    const { sut, mocks } = setup();
    mocks.shutdown.abort(new Error('shutting down'));
    expect(sut.signal.aborted).toBe(true);
    expect((sut.signal.reason as Error).message).toBe('shutting down');
  });

  it('starts aborted when shutdown has already begun', () => {
    const shutdown = new AbortController();
    shutdown.abort(new Error('shutting down'));
    expect(attemptDeadline(shutdown.signal, 1_000).signal.aborted).toBe(true);
  });

  it('once ended, neither the timer nor a later shutdown aborts it, and it leaves no timer behind', () => {
    const { sut, mocks } = setup(1_000);
    sut.end();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(5_000);
    mocks.shutdown.abort(new Error('shutting down'));
    expect(sut.signal.aborted).toBe(false);
  });
});

describe('untilDeadline', () => {
  it('answers what the work answers while the deadline has not passed', async () => {
    const controller = new AbortController();
    await expect(untilDeadline(Promise.resolve('done'), controller.signal)).resolves.toBe('done');
    await expect(untilDeadline(Promise.reject(new Error('refused')), controller.signal)).rejects.toThrow('refused');
  });

  it("rejects with the deadline's reason when it passes first, or has passed", async () => {
    const controller = new AbortController();
    const waiting = untilDeadline(new Promise(() => undefined), controller.signal);
    controller.abort(new DOMException('too long', 'TimeoutError'));
    await expect(waiting).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(untilDeadline(Promise.resolve('late'), controller.signal)).rejects.toMatchObject({ name: 'TimeoutError' });
  });
});
