import { context, Context, createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
// The context manager the tracing SDK registers.
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { setTracingOn } from '@dispatch/telemetry';
import { deferred } from '@dispatch/testing';
import { Batcher, writeTogetherOrAlone } from './batcher';

/** Lets every promise callback queued so far run (no timers involved). */
async function settle(): Promise<void> {
  for (let round = 0; round < 10; round += 1) await Promise.resolve();
}

/** What a promise came to: its value or its error, without an unhandled rejection. */
function outcome<T>(promise: Promise<T>): Promise<{ value: T } | { error: Error }> {
  return promise.then(
    (value) => ({ value }),
    (error: Error) => ({ error }),
  );
}

/** PostgreSQL refusing one row, as the driver reports it (not an unreachable database). */
function refused(message = 'value too long for type character varying(255)'): Error {
  return Object.assign(new Error(message), { code: '22001' });
}

/**
 * A Batcher whose group writes the test finishes by hand: each call of `run` is recorded with
 * its inputs and waits until the test answers it.
 */
function setup(maxBatch?: number) {
  const groups: { inputs: string[]; answer: ReturnType<typeof deferred<(string | Error)[]>> }[] = [];
  const mocks = {
    groups,
    run: jest.fn((inputs: string[]) => {
      const answer = deferred<(string | Error)[]>();
      groups.push({ inputs, answer });
      return answer.promise;
    }),
  };
  const sut = new Batcher<string, string>((inputs) => mocks.run(inputs), maxBatch);
  return { sut, mocks };
}

/** `writeTogetherOrAlone` with a write that refuses every group holding one of `bad`. */
function setupWrite(options: { bad?: string[]; failure?: Error } = {}) {
  const mocks = {
    write: jest.fn(async (items: readonly string[]) => {
      const offending = items.find((item) => options.bad?.includes(item));
      if (offending !== undefined) throw options.failure ?? refused(`cannot store ${offending}`);
      return items.map((item) => `stored ${item}`);
    }),
  };
  const sut = (items: readonly string[]) => writeTogetherOrAlone(items, mocks.write);
  return { sut, mocks };
}

afterEach(() => {
  jest.useRealTimers();
});

describe('Batcher', () => {
  it('writes a lone item at once, in a group of one, without waiting for a timer', async () => {
    jest.useFakeTimers();
    const { sut, mocks } = setup();
    const result = sut.submit('a');
    await settle();
    expect(mocks.run).toHaveBeenCalledTimes(1);
    expect(mocks.run).toHaveBeenCalledWith(['a']);
    mocks.groups[0].answer.resolve(['A']);
    await expect(result).resolves.toBe('A');
  });

  it('puts items submitted in the same tick in the same group', async () => {
    const { sut, mocks } = setup();
    const results = [sut.submit('a'), sut.submit('b'), sut.submit('c')];
    await settle();
    expect(mocks.run.mock.calls).toEqual([[['a', 'b', 'c']]]);
    mocks.groups[0].answer.resolve(['A', 'B', 'C']);
    await expect(Promise.all(results)).resolves.toEqual(['A', 'B', 'C']);
  });

  it('keeps one group in flight: items submitted meanwhile wait, then go together in the next group', async () => {
    const { sut, mocks } = setup();
    const first = sut.submit('a');
    await settle();
    const later = [sut.submit('b'), sut.submit('c')];
    await settle();
    const laterStill = sut.submit('d');
    await settle();
    expect(mocks.run).toHaveBeenCalledTimes(1); // b, c and d wait for a's group

    mocks.groups[0].answer.resolve(['A']);
    await expect(first).resolves.toBe('A');
    await settle();
    expect(mocks.run.mock.calls).toEqual([[['a']], [['b', 'c', 'd']]]);

    mocks.groups[1].answer.resolve(['B', 'C', 'D']);
    await expect(Promise.all([...later, laterStill])).resolves.toEqual(['B', 'C', 'D']);
  });

  it('gives each caller its own answer: an Error in the results fails only the caller in its place', async () => {
    const { sut, mocks } = setup();
    const results = ['a', 'bad', 'c'].map((input) => outcome(sut.submit(input)));
    await settle();
    const failure = refused();
    mocks.groups[0].answer.resolve(['A', failure, 'C']);
    expect(await Promise.all(results)).toEqual([{ value: 'A' }, { error: failure }, { value: 'C' }]);
  });

  it('fails every caller of a group whose run throws, and goes on writing later groups', async () => {
    const { sut, mocks } = setup();
    const failed = [outcome(sut.submit('a')), outcome(sut.submit('b'))];
    await settle();
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    mocks.groups[0].answer.reject(down);
    expect(await Promise.all(failed)).toEqual([{ error: down }, { error: down }]);

    const next = sut.submit('c');
    await settle();
    expect(mocks.run).toHaveBeenLastCalledWith(['c']);
    mocks.groups[1].answer.resolve(['C']);
    await expect(next).resolves.toBe('C');
  });

  it('writes a lone item at once again after the previous group has finished', async () => {
    const { sut, mocks } = setup();
    const first = sut.submit('a');
    await settle();
    mocks.groups[0].answer.resolve(['A']);
    await first;
    await settle();

    const second = sut.submit('b');
    await settle();
    expect(mocks.run.mock.calls).toEqual([[['a']], [['b']]]);
    mocks.groups[1].answer.resolve(['B']);
    await expect(second).resolves.toBe('B');
  });

  it('writes at most maxBatch items per group (100 by default), the rest in the next groups in order', async () => {
    const { sut, mocks } = setup(2);
    const results = ['a', 'b', 'c', 'd', 'e'].map((input) => sut.submit(input));
    for (let group = 0; group < 3; group += 1) {
      await settle();
      const { inputs, answer } = mocks.groups[group];
      answer.resolve(inputs.map((input) => input.toUpperCase()));
    }
    await expect(Promise.all(results)).resolves.toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(mocks.run.mock.calls).toEqual([[['a', 'b']], [['c', 'd']], [['e']]]);

    const byDefault = setup();
    const many = Array.from({ length: 101 }, (_, index) => byDefault.sut.submit(`item ${index}`));
    await settle();
    expect(byDefault.mocks.run.mock.calls[0][0]).toHaveLength(100);
    byDefault.mocks.groups[0].answer.resolve(byDefault.mocks.groups[0].inputs);
    await settle();
    expect(byDefault.mocks.run.mock.calls[1][0]).toEqual(['item 100']);
    byDefault.mocks.groups[1].answer.resolve(['item 100']);
    await expect(Promise.all(many)).resolves.toHaveLength(101);
  });

  it('idle() resolves at once with nothing submitted, and otherwise only after every group submitted so far has run', async () => {
    const { sut, mocks } = setup();
    await expect(sut.idle()).resolves.toBeUndefined();

    const first = sut.submit('a');
    await settle();
    const second = sut.submit('b'); // waits for the next group
    let idle = false;
    const waiting = sut.idle().then(() => (idle = true));

    mocks.groups[0].answer.resolve(['A']);
    await first;
    await settle();
    expect(idle).toBe(false); // b's group is still being written

    mocks.groups[1].answer.resolve(['B']);
    await waiting;
    expect(idle).toBe(true);
    await expect(second).resolves.toBe('B');
  });
});

describe('Batcher when tracing', () => {
  const caller = createContextKey('caller');
  const of = (ctx: Context) => ctx.getValue(caller);

  beforeEach(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    setTracingOn(true);
  });

  afterEach(() => {
    setTracingOn(false);
    context.disable();
  });

  it("runs a lone call in its caller's context and a group of several in none (not the first caller's), handing run each caller's context", async () => {
    const seen: { inputs: string[]; active: unknown; callers: unknown[] }[] = [];
    const gate = deferred<void>();
    const sut = new Batcher<string, string>(async (inputs, callers) => {
      seen.push({ inputs, active: of(context.active()), callers: callers.map(of) });
      if (seen.length === 1) await gate.promise;
      return inputs;
    });
    const submit = (input: string) => context.with(ROOT_CONTEXT.setValue(caller, `request ${input}`), () => sut.submit(input));
    const first = submit('a');
    await settle();
    const later = [submit('b'), submit('c')];
    gate.resolve();
    await Promise.all([first, ...later]);
    expect(seen).toEqual([
      { inputs: ['a'], active: 'request a', callers: ['request a'] },
      { inputs: ['b', 'c'], active: undefined, callers: ['request b', 'request c'] },
    ]);
  });
});

describe('writeTogetherOrAlone', () => {
  it('writes all items in one go when that works', async () => {
    const { sut, mocks } = setupWrite();
    await expect(sut(['a', 'b', 'c'])).resolves.toEqual(['stored a', 'stored b', 'stored c']);
    expect(mocks.write.mock.calls).toEqual([[['a', 'b', 'c']]]);
  });

  it('writes each item alone after the group is refused, so one bad item fails alone and the others are written', async () => {
    const { sut, mocks } = setupWrite({ bad: ['b'] });
    const results = await sut(['a', 'b', 'c']);
    expect(results[0]).toBe('stored a');
    expect(results[1]).toBeInstanceOf(Error);
    expect((results[1] as Error).message).toBe('cannot store b');
    expect(results[2]).toBe('stored c');
    expect(mocks.write.mock.calls).toEqual([[['a', 'b', 'c']], [['a']], [['b']], [['c']]]);
  });

  it('throws the error of a lone item as it is, without writing it again', async () => {
    const { sut, mocks } = setupWrite({ bad: ['a'] });
    await expect(sut(['a'])).rejects.toThrow('cannot store a');
    expect(mocks.write).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['Prisma cannot reach the server (P1001)', Object.assign(new Error("Can't reach database server at 127.0.0.1:5432"), { code: 'P1001' })],
    ['the connection is refused (ECONNREFUSED)', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['the server is shutting down (57P01)', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['the connection ends (message only)', new Error('Connection terminated unexpectedly')],
    ['the pool times out (message only)', new Error('timed out fetching a new connection from the connection pool')],
    ['an unreachable database as the cause', new Error('write failed', { cause: Object.assign(new Error('socket'), { code: 'ECONNRESET' }) })],
  ])('fails the whole group without writing each item when the database is unreachable: %s', async (_name, unreachable) => {
    const { sut, mocks } = setupWrite({ bad: ['a', 'b', 'c'], failure: unreachable });
    await expect(sut(['a', 'b', 'c'])).rejects.toBe(unreachable);
    expect(mocks.write).toHaveBeenCalledTimes(1);
  });
});

describe('Batcher writing together or alone (as ingest does)', () => {
  function setupBoth(failure?: Error) {
    const write = setupWrite({ bad: ['bad'], failure });
    const sut = new Batcher<string, string>((items) => write.sut(items));
    return { sut, mocks: write.mocks };
  }

  it('answers each caller of a group on its own: the refused item fails alone, the others are written', async () => {
    const { sut, mocks } = setupBoth();
    const results = await Promise.all(['a', 'bad', 'c'].map((input) => outcome(sut.submit(input))));
    expect(results).toEqual([{ value: 'stored a' }, { error: expect.objectContaining({ message: 'cannot store bad' }) }, { value: 'stored c' }]);
    expect(mocks.write.mock.calls).toEqual([[['a', 'bad', 'c']], [['a']], [['bad']], [['c']]]);
  });

  it('fails every caller of the group with the same error when the database is unreachable, trying none alone', async () => {
    const down = Object.assign(new Error("Can't reach database server"), { code: 'P1001' });
    const { sut, mocks } = setupBoth(down);
    const results = await Promise.all(['a', 'bad', 'c'].map((input) => outcome(sut.submit(input))));
    expect(results).toEqual([{ error: down }, { error: down }, { error: down }]);
    expect(mocks.write).toHaveBeenCalledTimes(1);
  });
});
