import type { FailingDestination, OpenDeliveryStatus } from '@dispatch/db';
import { Logger } from '@nestjs/common';
import { AttemptObservers } from '../delivery/attempt-observers';
import { DatabaseGauges, FRESH_MS, READ_TIMEOUT_MS } from './database-gauges';
import { FAILING_TOP, FAILING_WINDOW_MS, WorkerMetrics } from './worker-metrics';

// The gauges take only types from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({ DestinationHealthRepository: class {} }));

type Backlog = Record<OpenDeliveryStatus, number>;

function setup() {
  const mocks = {
    health: {
      backlogByStatus: jest.fn<Promise<Backlog>, []>().mockResolvedValue({ pending: 0, delivering: 0, retrying: 0 }),
      mostConsecutiveFailures: jest.fn<Promise<FailingDestination[]>, [Date, number]>().mockResolvedValue([]),
    },
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
  };
  const metrics = new WorkerMetrics(new AttemptObservers());
  const sut = new DatabaseGauges(metrics, mocks.health as never);
  /** The worker's metrics as a scrape reads them. */
  const scrape = () => metrics.registry.metrics();
  /** The samples of `name` in `text`, as `labels value` lines. */
  const samples = (text: string, name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      .map((line) => line.slice(name.length));
  return { sut, mocks, scrape, samples };
}

afterEach(() => {
  jest.restoreAllMocks();
  jest.useRealTimers();
});

describe('DatabaseGauges', () => {
  it('shows the backlog by status and the destinations failing most, as read from the database when scraped', async () => {
    const { mocks, scrape, samples } = setup();
    mocks.health.backlogByStatus.mockResolvedValue({ pending: 120, delivering: 4, retrying: 37 });
    mocks.health.mostConsecutiveFailures.mockResolvedValue([
      { destinationId: 'dst_A', consecutiveFailures: 50 },
      { destinationId: 'dst_B', consecutiveFailures: 3 },
    ]);
    const before = Date.now();
    const text = await scrape();

    expect(text).toContain('# TYPE dispatch_deliveries_backlog gauge\n');
    expect(samples(text, 'dispatch_deliveries_backlog')).toEqual(['{status="pending"} 120', '{status="delivering"} 4', '{status="retrying"} 37']);
    expect(text).toContain('# TYPE dispatch_destination_consecutive_failures gauge\n');
    expect(samples(text, 'dispatch_destination_consecutive_failures')).toEqual(['{destination="dst_A"} 50', '{destination="dst_B"} 3']);
    // The failing ones of the last window, at most FAILING_TOP of them; one read for both gauges.
    expect(mocks.health.mostConsecutiveFailures).toHaveBeenCalledTimes(1);
    const [since, limit] = mocks.health.mostConsecutiveFailures.mock.calls[0];
    expect(limit).toBe(FAILING_TOP);
    expect(since.getTime()).toBeGreaterThanOrEqual(before - FAILING_WINDOW_MS);
    expect(since.getTime()).toBeLessThanOrEqual(Date.now() - FAILING_WINDOW_MS);
    expect(mocks.health.backlogByStatus).toHaveBeenCalledTimes(1);
  });

  it('drops the series of a destination that left the top or stopped failing, and shows a backlog that emptied as 0', async () => {
    const { sut, mocks, scrape, samples } = setup();
    mocks.health.backlogByStatus.mockResolvedValue({ pending: 9, delivering: 1, retrying: 2 });
    mocks.health.mostConsecutiveFailures.mockResolvedValue([
      { destinationId: 'dst_A', consecutiveFailures: 7 },
      { destinationId: 'dst_B', consecutiveFailures: 5 },
    ]);
    await sut.refresh(1_000_000);
    mocks.health.backlogByStatus.mockResolvedValue({ pending: 0, delivering: 0, retrying: 0 });
    mocks.health.mostConsecutiveFailures.mockResolvedValue([{ destinationId: 'dst_C', consecutiveFailures: 9 }]);
    await sut.refresh(1_000_000 + FRESH_MS);
    // The scrape reads again (its own clock): the same answer.
    const text = await scrape();
    expect(samples(text, 'dispatch_destination_consecutive_failures')).toEqual(['{destination="dst_C"} 9']);
    expect(samples(text, 'dispatch_deliveries_backlog')).toEqual(['{status="pending"} 0', '{status="delivering"} 0', '{status="retrying"} 0']);
  });

  it('reads once for scrapes that come within FRESH_MS of each other, and again after', async () => {
    const { sut, mocks } = setup();
    await sut.refresh(1_000_000);
    await sut.refresh(1_000_000 + FRESH_MS - 1);
    await Promise.all([sut.refresh(1_000_000 + 10), sut.refresh(1_000_000 + 20)]);
    expect(mocks.health.backlogByStatus).toHaveBeenCalledTimes(1);
    await sut.refresh(1_000_000 + FRESH_MS);
    expect(mocks.health.backlogByStatus).toHaveBeenCalledTimes(2);
    expect(mocks.health.mostConsecutiveFailures).toHaveBeenCalledTimes(2);
  });

  it('keeps the values read before when a read fails, and logs it once for reads failing alike', async () => {
    const { sut, mocks, scrape, samples } = setup();
    mocks.health.backlogByStatus.mockResolvedValue({ pending: 5, delivering: 0, retrying: 1 });
    mocks.health.mostConsecutiveFailures.mockResolvedValue([{ destinationId: 'dst_A', consecutiveFailures: 4 }]);
    await sut.refresh(1_000_000);
    mocks.health.backlogByStatus.mockRejectedValue(new Error('connection terminated'));
    await sut.refresh(1_000_000 + FRESH_MS);
    await sut.refresh(1_000_000 + 2 * FRESH_MS);

    expect(mocks.health.backlogByStatus).toHaveBeenCalledTimes(3);
    expect(mocks.warn).toHaveBeenCalledTimes(1);
    expect(mocks.warn.mock.calls[0][0]).toContain('connection terminated');
    const text = await scrape();
    expect(samples(text, 'dispatch_deliveries_backlog')).toContain('{status="pending"} 5');
    expect(samples(text, 'dispatch_destination_consecutive_failures')).toEqual(['{destination="dst_A"} 4']);
  });

  it('answers a scrape after READ_TIMEOUT_MS with the values read before while the database is slow, and reads no more until that read ends', async () => {
    jest.useFakeTimers();
    const { sut, mocks } = setup();
    let finish: (backlog: Backlog) => void = () => undefined;
    mocks.health.backlogByStatus.mockReturnValue(new Promise<Backlog>((resolve) => (finish = resolve)));
    let answered = false;
    const scrape = sut.refresh(1_000_000).then(() => (answered = true));
    await jest.advanceTimersByTimeAsync(READ_TIMEOUT_MS - 1);
    expect(answered).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await scrape;
    expect(answered).toBe(true);

    // Still reading: a later scrape waits for the same read, never starts another.
    const later = sut.refresh(1_000_000 + FRESH_MS);
    await jest.advanceTimersByTimeAsync(READ_TIMEOUT_MS);
    await later;
    expect(mocks.health.backlogByStatus).toHaveBeenCalledTimes(1);
    finish({ pending: 1, delivering: 0, retrying: 0 });
    await jest.advanceTimersByTimeAsync(0);
    mocks.health.backlogByStatus.mockResolvedValue({ pending: 2, delivering: 0, retrying: 0 });
    await sut.refresh(1_000_000 + 2 * FRESH_MS);
    expect(mocks.health.backlogByStatus).toHaveBeenCalledTimes(2);
  });
});
