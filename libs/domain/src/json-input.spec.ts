import { BODY_MAX_DEPTH, fieldsWithNul, nestsDeeperThan } from './json-input';

/** `levels` arrays inside one another around `inner`. */
const nested = (levels: number, inner = '') => '['.repeat(levels) + inner + ']'.repeat(levels);

describe('nestsDeeperThan', () => {
  it('counts arrays and objects opened inside one another, up to the limit and one past it', () => {
    expect(nestsDeeperThan(nested(3), 3)).toBe(false);
    expect(nestsDeeperThan(nested(4), 3)).toBe(true);
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 4)).toBe(false);
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 3)).toBe(true);
  });

  it('counts depth, not how many arrays there are side by side', () => {
    expect(nestsDeeperThan(`[${Array.from({ length: 1000 }, () => '[1]').join(',')}]`, 2)).toBe(false);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(`{"text":"${'['.repeat(100)}"}`, 1)).toBe(false);
    expect(nestsDeeperThan(`{"text":"a \\" ${'{'.repeat(100)} \\\\"}`, 1)).toBe(false);
    expect(nestsDeeperThan(`["\\"", ${nested(3)}]`, 3)).toBe(true);
  });

  it('answers for 100 000 levels at once, without recursing', () => {
    expect(nestsDeeperThan(nested(100_000), BODY_MAX_DEPTH)).toBe(true);
  });
});

describe('fieldsWithNul', () => {
  it('names each top-level field holding NUL in a value or a key, however deep, under `where`', () => {
    const problems = fieldsWithNul({ ok: 'fine', text: 'a\u0000b', data: { list: [{ ['k\u0000']: 1 }] }, n: 1 }, 'events.2');
    expect(problems).toEqual([
      { path: 'events.2.text', message: 'must not contain the NUL character (\\u0000)' },
      { path: 'events.2.data', message: 'must not contain the NUL character (\\u0000)' },
    ]);
    expect(fieldsWithNul({ text: 'clean', data: [1, 'two', null] })).toEqual([]);
  });
});
