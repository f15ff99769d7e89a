import { enqueueRequest } from './enqueue-request';
import { isRetryPriority, jobPriority, retryPriority } from './job-priority';

const EVENT_PRIORITIES = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];

describe('jobPriority', () => {
  it('gives first attempts 1–11 and retries 12–22, a higher event priority first within each group', () => {
    expect(EVENT_PRIORITIES.map((priority) => jobPriority(priority, false))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(EVENT_PRIORITIES.map((priority) => jobPriority(priority, true))).toEqual([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]);
  });

  it('puts every retry behind every first attempt, whatever the events’ priorities', () => {
    const lowestFirstAttempt = jobPriority(0, false);
    const highestRetry = jobPriority(10, true);
    expect(highestRetry).toBeGreaterThan(lowestFirstAttempt);
    expect(isRetryPriority(highestRetry)).toBe(true);
    expect(isRetryPriority(lowestFirstAttempt)).toBe(false);
  });

  it('keeps a priority out of range within its group', () => {
    expect(jobPriority(42, false)).toBe(1);
    expect(jobPriority(-3, true)).toBe(22);
  });
});

describe('retryPriority', () => {
  it("moves a first attempt's job to the retry group with its event's priority, and leaves a retry where it is", () => {
    for (const priority of EVENT_PRIORITIES) expect(retryPriority(jobPriority(priority, false))).toBe(jobPriority(priority, true));
    for (const priority of EVENT_PRIORITIES) expect(retryPriority(jobPriority(priority, true))).toBe(jobPriority(priority, true));
  });

  it('moves a job that has no priority behind every first attempt too', () => {
    expect(isRetryPriority(retryPriority(0))).toBe(true);
  });
});

describe('enqueueRequest', () => {
  const delivery = { id: 'dlv_1', destinationId: 'dst_1', priority: 7, nextAttemptAt: null };

  it('queues a delivery never attempted as a first attempt, and one attempted before as a retry', () => {
    expect(enqueueRequest({ ...delivery, attemptCount: 0 }, {})).toMatchObject({ priority: 7, retry: false });
    expect(enqueueRequest({ ...delivery, attemptCount: 2 }, {})).toMatchObject({ priority: 7, retry: true });
  });
});
