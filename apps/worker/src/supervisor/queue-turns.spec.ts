import { QueueTurns, Turn } from './queue-turns';

const SLICE_MS = 1_000;

function setup(capacity = 2) {
  const mocks = { now: 0 };
  const sut = new QueueTurns(capacity, SLICE_MS, () => mocks.now);
  return { sut, mocks };
}

/** Ends the turns that are due and gives the freed ones to those first in line, as the supervisor does; answers who started. */
function rotate(sut: QueueTurns, held: Map<string, Turn>): string[] {
  for (const turn of sut.due()) {
    sut.end(turn);
    held.delete(turn.destinationId);
  }
  const started = sut.admit();
  for (const destinationId of started) held.set(destinationId, sut.take(destinationId) as Turn);
  return started;
}

describe('QueueTurns', () => {
  it('gives a turn to each destination up to its capacity; the others wait in line, oldest first, without losing their place', () => {
    const { sut } = setup(2);
    expect(sut.take('dst_A')).toMatchObject({ destinationId: 'dst_A' });
    expect(sut.take('dst_B')).toMatchObject({ destinationId: 'dst_B' });
    expect(sut.take('dst_C')).toBeUndefined();
    expect(sut.take('dst_D')).toBeUndefined();
    expect(sut.take('dst_C')).toBeUndefined();
    expect(sut.waiting).toBe(2);
    expect(sut.admit()).toEqual([]);
  });

  it('hands a turn that ends to the first in line', () => {
    const { sut } = setup(1);
    const first = sut.take('dst_A') as Turn;
    sut.take('dst_B');
    sut.take('dst_C');
    sut.end(first);
    expect(sut.admit()).toEqual(['dst_B']);
    expect(sut.take('dst_B')).toBeDefined();
    expect(sut.waiting).toBe(1);
  });

  it('ends no turn while nobody waits, however long it has run', () => {
    const { sut, mocks } = setup(2);
    const turn = sut.take('dst_A') as Turn;
    turn.drained = true;
    mocks.now = 10 * SLICE_MS;
    expect(sut.due()).toEqual([]);
  });

  it('ends a turn whose queue ran dry before its slice is over, and a busy one only once its slice is over', () => {
    const { sut, mocks } = setup(2);
    const busy = sut.take('dst_busy') as Turn;
    const quiet = sut.take('dst_quiet') as Turn;
    sut.take('dst_C');
    sut.take('dst_D');
    mocks.now = 100;
    expect(sut.due()).toEqual([]);
    quiet.drained = true;
    expect(sut.due()).toEqual([quiet]);
    mocks.now = SLICE_MS - 1;
    expect(sut.due()).toEqual([]);
    mocks.now = SLICE_MS;
    expect(sut.due()).toEqual([busy]);
    // Both are ending, and no other turn is due.
    expect(sut.due()).toEqual([]);
  });

  it('ends only as many turns as destinations wait for one', () => {
    const { sut, mocks } = setup(3);
    sut.take('dst_A');
    sut.take('dst_B');
    sut.take('dst_C');
    sut.take('dst_D');
    mocks.now = SLICE_MS;
    expect(sut.due().map((turn) => turn.destinationId)).toEqual(['dst_A']);
  });

  it('keeps a flooded destination from holding a quiet one back longer than a slice per capacity of turns ahead of it', () => {
    // Capacity 2, five flooded destinations that never run dry, then a quiet one with one job.
    const { sut, mocks } = setup(2);
    const held = new Map<string, Turn>();
    for (const destinationId of ['dst_F1', 'dst_F2', 'dst_F3', 'dst_F4', 'dst_F5']) {
      const turn = sut.take(destinationId);
      if (turn) held.set(destinationId, turn);
    }
    sut.take('dst_quiet');
    const waitingAhead = sut.waiting;
    let startedAt: number | undefined;
    for (mocks.now = 0; mocks.now <= 10 * SLICE_MS && startedAt === undefined; mocks.now += SLICE_MS / 4) {
      const started = rotate(sut, held);
      // A flooded destination whose turn ended still has work: it joins the back of the line.
      for (const destinationId of ['dst_F1', 'dst_F2', 'dst_F3', 'dst_F4', 'dst_F5']) if (!held.has(destinationId)) sut.take(destinationId);
      if (started.includes('dst_quiet')) startedAt = mocks.now;
    }
    expect(startedAt).toBeDefined();
    expect(startedAt).toBeLessThanOrEqual(Math.ceil(waitingAhead / 2) * SLICE_MS);
  });

  it('forgets the line on clear', () => {
    const { sut } = setup(1);
    const turn = sut.take('dst_A') as Turn;
    sut.take('dst_B');
    sut.clear();
    sut.end(turn);
    expect(sut.admit()).toEqual([]);
  });
});
