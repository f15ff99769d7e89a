import { Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { DispatchConfig } from '@dispatch/config';
import type { DeadLetter, DownloadLinkRepository, FileRepository, IngestRejectionRepository, RetentionBatch, RetentionCursor, RetentionRepository } from '@dispatch/db';
import type { FileStore } from '@dispatch/destinations';
import type { DeliveryQueues } from '@dispatch/queue';
import { RETENTION_JOB, RETENTION_RUN_MS, RetentionSweep } from './retention-sweep';

// The sweep takes only the start cursor from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({ RETENTION_START: { receivedAt: new Date(0), eventId: '' } }));

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const DAY_MS = 86_400_000;
const START: RetentionCursor = { receivedAt: new Date(0), eventId: '' };

const cursor = (eventId: string): RetentionCursor => ({ receivedAt: new Date(NOW - 40 * DAY_MS), eventId });
const batch = (scanned: number, events: number, next: RetentionCursor | null, deadLetters: DeadLetter[] = []): RetentionBatch => ({
  scanned,
  removed: { events, deliveries: events * 2, attempts: events * 3 },
  deadLetters,
  next,
});

function setup(
  options: {
    days?: number;
    batches?: RetentionBatch[];
    replays?: number[];
    files?: string[][];
    links?: { removed: number; files: string[] }[];
    rejected?: number[];
    msPerBatch?: number;
  } = {},
) {
  let clock = NOW;
  jest.spyOn(Date, 'now').mockImplementation(() => clock);
  const batches = [...(options.batches ?? [])];
  const replays = [...(options.replays ?? [])];
  const rejected = [...(options.rejected ?? [])];
  const files = [...(options.files ?? [])];
  const links = [...(options.links ?? [])];
  const mocks = {
    rejections: { removeOlderThan: jest.fn(async (_cutoff: Date, _limit: number): Promise<number> => rejected.shift() ?? 0) },
    repository: {
      organizationIds: jest.fn(async (): Promise<string[]> => ['org_a', 'org_b']),
      removeEvents: jest.fn(async (_organizationId: string, _cutoff: Date, _after: RetentionCursor, _limit: number): Promise<RetentionBatch> => {
        clock += options.msPerBatch ?? 10;
        return batches.shift() ?? batch(0, 0, null);
      }),
      removeReplays: jest.fn(async (_organizationId: string, _cutoff: Date, _limit: number): Promise<number> => replays.shift() ?? 0),
    },
    files: { removeUnnamed: jest.fn(async (_organizationId: string, _cutoff: Date, _limit: number): Promise<string[]> => files.shift() ?? []) },
    downloadLinks: {
      removeExpiredBefore: jest.fn(async (_cutoff: Date, _limit: number): Promise<{ removed: number; files: string[] }> => links.shift() ?? { removed: 0, files: [] }),
    },
    store: { remove: jest.fn(async (_id: string): Promise<void> => undefined) },
    queue: { add: jest.fn(async () => ({ id: 'job' })) },
    queues: { discard: jest.fn(async (_destinationId: string, _deliveryId: string): Promise<void> => undefined) },
    config: { retention: { days: options.days ?? 30, batch: 3, sweepMs: 3_600_000 } } as unknown as DispatchConfig,
    log: jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined),
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
  };
  const sut = new RetentionSweep(
    mocks.repository as unknown as RetentionRepository,
    mocks.queues as unknown as DeliveryQueues,
    mocks.queue as unknown as Queue,
    mocks.config,
    mocks.rejections as unknown as IngestRejectionRepository,
    mocks.files as unknown as FileRepository,
    mocks.store as unknown as FileStore,
    mocks.downloadLinks as unknown as DownloadLinkRepository,
  );
  return { sut, mocks };
}

afterEach(() => jest.restoreAllMocks());

describe('RetentionSweep', () => {
  it('keeps everything when DISPATCH_RETENTION_DAYS is 0', async () => {
    const { sut, mocks } = setup({ days: 0 });
    expect(await sut.run()).toEqual({ events: 0, deliveries: 0, attempts: 0, replays: 0, files: 0, downloadLinks: 0, rejected: 0, finished: true });
    expect(mocks.repository.organizationIds).not.toHaveBeenCalled();
    expect(mocks.repository.removeEvents).not.toHaveBeenCalled();
    expect(mocks.repository.removeReplays).not.toHaveBeenCalled();
    expect(mocks.rejections.removeOlderThan).not.toHaveBeenCalled();
  });

  it('removes rejected ingest messages older than the period a batch at a time, once every organization is done', async () => {
    const msPerBatch = RETENTION_RUN_MS / 2;
    const { sut, mocks } = setup({ msPerBatch, batches: [batch(3, 3, cursor('evt_3')), batch(3, 3, cursor('evt_6'))], rejected: [3, 3, 1] });
    expect(await sut.run()).toMatchObject({ rejected: 0, finished: false });
    expect(mocks.rejections.removeOlderThan).not.toHaveBeenCalled();
    expect(await sut.run()).toMatchObject({ rejected: 7, finished: true });
    // The second job started two batches later, and cuts off 30 days before it started.
    expect(mocks.rejections.removeOlderThan.mock.calls).toEqual(Array(3).fill([new Date(NOW + 2 * msPerBatch - 30 * DAY_MS), 3]));
    expect(mocks.log).toHaveBeenLastCalledWith(
      'Removed 0 events, 0 deliveries, 0 attempts, 0 replays, 0 files, 0 download links and 7 rejected ingest messages older than 30 days',
    );
  });

  it('goes through every organization a batch at a time, each batch after the last, older than the period, then its replays', async () => {
    const { sut, mocks } = setup({
      batches: [batch(3, 3, cursor('evt_3')), batch(3, 1, cursor('evt_6')), batch(1, 1, cursor('evt_7')), batch(2, 2, cursor('evt_x'))],
      replays: [3, 1, 0],
      files: [['fil_1', 'fil_2', 'fil_3'], ['fil_4'], ['fil_5']],
      links: [
        { removed: 3, files: ['fil_6'] },
        { removed: 1, files: [] },
      ],
    });
    expect(await sut.run()).toEqual({ events: 7, deliveries: 14, attempts: 21, replays: 4, files: 5, downloadLinks: 4, rejected: 0, finished: true });
    const cutoff = new Date(NOW - 30 * DAY_MS);
    expect(mocks.repository.removeEvents.mock.calls).toEqual([
      ['org_a', cutoff, START, 3],
      ['org_a', cutoff, cursor('evt_3'), 3],
      ['org_a', cutoff, cursor('evt_6'), 3],
      ['org_b', cutoff, START, 3],
    ]);
    // Replays are removed a batch at a time too, until a batch is not full.
    expect(mocks.repository.removeReplays.mock.calls).toEqual([
      ['org_a', cutoff, 3],
      ['org_a', cutoff, 3],
      ['org_b', cutoff, 3],
    ]);
    // Files too, and the bytes of each file whose row went.
    expect(mocks.files.removeUnnamed.mock.calls).toEqual([
      ['org_a', cutoff, 3],
      ['org_a', cutoff, 3],
      ['org_b', cutoff, 3],
    ]);
    // Download links expired before the period go once every organization is done, with any file still kept.
    expect(mocks.downloadLinks.removeExpiredBefore.mock.calls).toEqual([
      [cutoff, 3],
      [cutoff, 3],
    ]);
    expect(mocks.store.remove.mock.calls.map(([id]) => id)).toEqual(['fil_1', 'fil_2', 'fil_3', 'fil_4', 'fil_5', 'fil_6']);
    expect(mocks.queue.add).not.toHaveBeenCalled();
    expect(mocks.log).toHaveBeenCalledWith(
      'Removed 7 events, 14 deliveries, 21 attempts, 4 replays, 5 files, 4 download links and 0 rejected ingest messages older than 30 days',
    );
  });

  it('removes the failed jobs of the dead letters it removed, and goes on when Redis cannot be reached', async () => {
    const { sut, mocks } = setup({
      batches: [
        batch(3, 3, cursor('evt_3'), [
          { id: 'dlv_1', destinationId: 'dst_a' },
          { id: 'dlv_2', destinationId: 'dst_b' },
        ]),
        batch(1, 1, cursor('evt_4'), [{ id: 'dlv_3', destinationId: 'dst_a' }]),
      ],
    });
    mocks.queues.discard.mockImplementation(async (_destinationId, deliveryId) => {
      if (deliveryId === 'dlv_3') throw new Error('Connection is closed.');
    });
    expect(await sut.run()).toMatchObject({ events: 4, finished: true });
    expect(mocks.queues.discard.mock.calls).toEqual([
      ['dst_a', 'dlv_1'],
      ['dst_b', 'dlv_2'],
      ['dst_a', 'dlv_3'],
    ]);
    expect(mocks.warn).toHaveBeenCalledWith('Could not remove the failed jobs of removed dead letters: Connection is closed.');
    expect(mocks.repository.removeEvents).toHaveBeenCalledTimes(3);
  });

  it('makes way after a while: queues a job that goes on where it stopped', async () => {
    const msPerBatch = RETENTION_RUN_MS / 2;
    const { sut, mocks } = setup({ msPerBatch, batches: [batch(3, 3, cursor('evt_3')), batch(3, 3, cursor('evt_6')), batch(0, 0, null), batch(0, 0, null)] });
    expect(await sut.run()).toMatchObject({ events: 6, finished: false });
    expect(mocks.queue.add).toHaveBeenCalledWith(RETENTION_JOB, {}, expect.anything());
    expect(mocks.repository.removeEvents).toHaveBeenCalledTimes(2);

    expect(await sut.run()).toMatchObject({ events: 0, finished: true });
    expect(mocks.repository.organizationIds).toHaveBeenCalledTimes(1);
    expect(mocks.repository.removeEvents.mock.calls.slice(2).map(([organizationId, , after]) => [organizationId, after])).toEqual([
      ['org_a', cursor('evt_6')],
      ['org_b', START],
    ]);
    expect(mocks.queue.add).toHaveBeenCalledTimes(1);
  });
});
