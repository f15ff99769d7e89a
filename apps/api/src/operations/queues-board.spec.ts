import type { BullBoardInstance } from '@bull-board/nestjs';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import type { DispatchConfig } from '@dispatch/config';
import type { PrismaClient } from '@dispatch/db';
import { destinationQueueName } from '@dispatch/queue';
import type { DeliveryQueues } from '@dispatch/queue';
import { deferred, REDIS_URL, uniqueQueuePrefix } from '@dispatch/testing';
import { QueuesBoard } from './queues-board';

type Row = { id: string; name: string };
type Adapter = { getName(): string; getDisplayName(): string };

/**
 * QueuesBoard over real BullMQ queues (on loopback Redis, nothing written), a board that keeps
 * its queues by name as Bull Board does, and a destinations table whose reads can be held.
 */
function setup(stored: Row[]) {
  const redis = new IORedis(REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
  const prefix = uniqueQueuePrefix();
  const queues = new Map<string, Queue>();
  const listed = new Map<string, Adapter>();
  const mocks: {
    stored: Row[];
    hold: Promise<void> | undefined;
    board: Record<string, jest.Mock>;
    prisma: { destination: { findMany: jest.Mock<Promise<Row[]>, []> } };
    queues: Pick<DeliveryQueues, 'prefix' | 'queue'> & { connection: IORedis };
  } = {
    stored,
    /** When set, the next read of the destinations waits for it, then answers what was stored when it began. */
    hold: undefined as Promise<void> | undefined,
    board: {
      replaceQueues: jest.fn((adapters: Adapter[]) => {
        listed.clear();
        for (const adapter of adapters) listed.set(adapter.getName(), adapter);
      }),
      addQueue: jest.fn((adapter: Adapter) => listed.set(adapter.getName(), adapter)),
      removeQueue: jest.fn((queue: string | Adapter) => listed.delete(typeof queue === 'string' ? queue : queue.getName())),
    },
    prisma: {
      destination: {
        findMany: jest.fn(async (): Promise<Row[]> => {
          const rows = mocks.stored.map((row: Row) => ({ ...row }));
          const hold = mocks.hold;
          mocks.hold = undefined;
          if (hold) await hold;
          return rows;
        }),
      },
    },
    queues: {
      connection: redis,
      prefix,
      queue: (id: string) => {
        if (!queues.has(id)) queues.set(id, new Queue(destinationQueueName(id), { connection: redis, prefix }));
        return queues.get(id) as Queue;
      },
    },
  };
  const sut = new QueuesBoard(
    mocks.board as unknown as BullBoardInstance,
    mocks.prisma as unknown as PrismaClient,
    mocks.queues as unknown as DeliveryQueues,
    { queues: { allowRetries: false } } as DispatchConfig,
  );
  /** The names shown on the board, the maintenance queue first. */
  const shown = () => [...listed.values()].map((adapter) => adapter.getDisplayName());
  const close = async () => {
    await sut.onModuleDestroy();
    await Promise.all([...queues.values()].map((queue) => queue.close()));
    redis.disconnect();
  };
  return { sut, mocks, shown, close };
}

describe('QueuesBoard', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('lists every stored destination at start, then adds, renames and removes one queue per change without reading the table', async () => {
    const { sut, mocks, shown, ...rest } = setup([{ id: 'dst_1', name: 'orders' }]);
    close = rest.close;
    await sut.onModuleInit();
    expect(shown()).toEqual(['maintenance (reconciler)', 'orders (dst_1)']);

    sut.show({ id: 'dst_2', name: 'invoices' });
    sut.show({ id: 'dst_1', name: 'orders-v2' });
    sut.hide('dst_2');
    expect(shown()).toEqual(['maintenance (reconciler)', 'orders-v2 (dst_1)']);
    expect(mocks.prisma.destination.findMany).toHaveBeenCalledTimes(1);
    expect(mocks.board.replaceQueues).toHaveBeenCalledTimes(1);
  });

  it('brings in on sync what other API processes changed: created, renamed, deleted', async () => {
    const { sut, mocks, shown, ...rest } = setup([
      { id: 'dst_1', name: 'orders' },
      { id: 'dst_2', name: 'invoices' },
    ]);
    close = rest.close;
    await sut.onModuleInit();
    mocks.stored = [
      { id: 'dst_2', name: 'bills' },
      { id: 'dst_3', name: 'refunds' },
    ];
    await sut.sync();
    expect(shown()).toEqual(['maintenance (reconciler)', 'bills (dst_2)', 'refunds (dst_3)']);
  });

  it('keeps what changed through this process while a sync read an older table', async () => {
    const { sut, mocks, shown, ...rest } = setup([{ id: 'dst_1', name: 'orders' }]);
    close = rest.close;
    await sut.onModuleInit();
    const read = deferred<void>();
    mocks.hold = read.promise;
    const sync = sut.sync();
    // Created and deleted after the sync read the table, before it applied what it read.
    mocks.stored = [{ id: 'dst_2', name: 'invoices' }];
    sut.show({ id: 'dst_2', name: 'invoices' });
    sut.hide('dst_1');
    read.resolve();
    await sync;
    expect(shown()).toEqual(['maintenance (reconciler)', 'invoices (dst_2)']);
  });
});
