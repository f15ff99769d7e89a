import { describe, expect, it } from '@jest/globals';
import { categoryLabel, formatBytes, payloadText, utcTime } from './events';

describe('event page helpers', () => {
  it('shows a small payload whole, as pretty JSON', () => {
    const shown = payloadText({ order: 1, items: ['a'] });
    expect(shown.truncated).toBe(false);
    expect(shown.text).toBe('{\n  "order": 1,\n  "items": [\n    "a"\n  ]\n}');
    expect(shown.totalBytes).toBe(shown.text.length);
  });

  it('cuts a large payload at the limit, never inside a character, and keeps the whole of it', () => {
    const value = { text: 'é'.repeat(100) };
    const shown = payloadText(value, 20);
    expect(shown.truncated).toBe(true);
    // '{\n  "text": "' is 13 bytes; then 3 two-byte characters fit in 7 bytes, the 4th does not.
    expect(shown.text).toBe('{\n  "text": "ééé');
    expect(shown.shownBytes).toBe(19);
    expect(shown.totalBytes).toBe(13 + 200 + 3);
    expect(JSON.parse(shown.full)).toEqual(value);
  });

  it('writes sizes, categories and UTC times as the pages show them', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(categoryLabel('egress_refused')).toBe('Refused by the egress guard');
    expect(categoryLabel(null)).toBe('—');
    expect(utcTime('2026-12-01T14:05')).toBe('2026-12-01T14:05:00.000Z');
    expect(utcTime('')).toBeUndefined();
    expect(utcTime('yesterday')).toBeNull();
    expect(utcTime('2026-13-45T99:00')).toBeNull();
  });
});
