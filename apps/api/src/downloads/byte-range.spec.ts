import { byteRange } from './byte-range';

describe('byteRange', () => {
  it('reads one range: from-to, from the start to the end, and the last n bytes, cut to the file', () => {
    expect(byteRange(undefined, 10)).toBeUndefined();
    expect(byteRange('bytes=2-5', 10)).toEqual({ start: 2, end: 5 });
    expect(byteRange('bytes=4-', 10)).toEqual({ start: 4, end: 9 });
    expect(byteRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(byteRange('bytes=-30', 10)).toEqual({ start: 0, end: 9 });
    expect(byteRange('bytes=8-100', 10)).toEqual({ start: 8, end: 9 });
  });

  it('answers null (416) for what it cannot serve: past the end, backwards, several ranges, other units', () => {
    for (const header of ['bytes=10-', 'bytes=5-2', 'bytes=0-1,4-5', 'items=0-1', 'bytes=-', 'bytes=-0', 'bytes=a-b']) expect(byteRange(header, 10)).toBeNull();
    expect(byteRange('bytes=0-', 0)).toBeNull();
  });
});
