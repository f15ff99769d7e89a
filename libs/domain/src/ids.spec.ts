import { newId } from './ids';

describe('newId', () => {
  it('is the prefix, a 10-digit time and 16 random digits in lower-case base 32', () => {
    expect(newId('dlv')).toMatch(/^dlv_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('sorts by creation time', async () => {
    const first = newId('evt');
    await new Promise((resolve) => setTimeout(resolve, 2));
    const second = newId('evt');
    expect([second, first].sort()).toEqual([first, second]);
  });

  it('does not repeat, across many draws of the random pool', () => {
    const ids = Array.from({ length: 5_000 }, () => newId('att'));
    expect(new Set(ids).size).toBe(ids.length);
    // Every random digit takes all 32 values somewhere: the whole 80 bits are used.
    for (let position = 14; position < 30; position += 1) expect(new Set(ids.map((id) => id[position])).size).toBe(32);
  });
});
