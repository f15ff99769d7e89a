import { idFloor, newId } from './ids';

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

describe('idFloor', () => {
  it('sorts after the ids made before its time and before those made at it or later', () => {
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
    const before = newId('att');
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_001);
    const at = newId('att');
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_002);
    const after = newId('att');
    jest.restoreAllMocks();
    const floor = idFloor('att', new Date(1_700_000_000_001));
    expect([after, floor, at, before].sort()).toEqual([before, floor, at, after]);
  });
});
