import { deferred } from '@dispatch/testing';
import { AttemptSlots, SlotsClosedError } from './attempt-slots';

function setup(size = 2) {
  const mocks = { started: [] as string[], ends: new Map<string, ReturnType<typeof deferred<string>>>() };
  const sut = new AttemptSlots(size);
  /** An attempt that runs until `finish(name)`. */
  const attempt = (name: string) =>
    sut.run(() => {
      mocks.started.push(name);
      const end = deferred<string>();
      mocks.ends.set(name, end);
      return end.promise;
    });
  const finish = async (name: string) => {
    mocks.ends.get(name)?.resolve(name);
    await new Promise<void>((resolve) => setImmediate(resolve));
  };
  return { sut, mocks, attempt, finish };
}

describe('AttemptSlots', () => {
  it('runs at most its size at once; the others start in the order they asked, each as soon as a slot is free', async () => {
    const { mocks, attempt, finish } = setup(2);
    const results = ['a', 'b', 'c', 'd'].map(attempt);
    await finish('none');
    expect(mocks.started).toEqual(['a', 'b']);
    await finish('b');
    expect(mocks.started).toEqual(['a', 'b', 'c']);
    await finish('a');
    expect(mocks.started).toEqual(['a', 'b', 'c', 'd']);
    await finish('c');
    await finish('d');
    await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c', 'd']);
  });

  it('frees the slot of an attempt that fails, and passes its error on', async () => {
    const { sut, mocks, attempt } = setup(1);
    const failing = sut.run(async () => {
      throw new Error('receiver unreachable');
    });
    const next = attempt('next');
    await expect(failing).rejects.toThrow('receiver unreachable');
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(mocks.started).toEqual(['next']);
    mocks.ends.get('next')?.resolve('next');
    await expect(next).resolves.toBe('next');
  });

  it('refuses, once closed, the attempts waiting for a slot and any later one that finds none free; one that finds a slot free goes on', async () => {
    const { sut, mocks, attempt, finish } = setup(1);
    const underWay = attempt('under way');
    const waiting = attempt('waiting');
    await finish('none');
    sut.close();
    await expect(waiting).rejects.toBeInstanceOf(SlotsClosedError);
    await expect(attempt('later, all busy')).rejects.toBeInstanceOf(SlotsClosedError);
    await finish('under way');
    await expect(underWay).resolves.toBe('under way');
    const freeSlot = attempt('later, slot free');
    await finish('later, slot free');
    await expect(freeSlot).resolves.toBe('later, slot free');
    expect(mocks.started).toEqual(['under way', 'later, slot free']);
  });
});
