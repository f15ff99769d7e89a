import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Random bytes drawn in bulk: one system call per 256 ids rather than one per id. */
const pool = Buffer.alloc(10 * 256);
let used = pool.length;

function randomTenBytes(): Buffer {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += 10;
  return pool.subarray(used - 10, used);
}

/** `value` (an integer below 2^53) as `length` base-32 digits, most significant first. */
function encodeBase32(value: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/**
 * A new id such as `dlv_01jd3k…`: the prefix names the kind of object; the rest is a
 * millisecond timestamp and 80 random bits, so ids sort by creation time.
 */
export function newId(prefix: string): string {
  const bytes = randomTenBytes();
  // 80 bits as two 40-bit numbers of 8 digits each.
  const high = bytes[0] * 2 ** 32 + bytes.readUInt32BE(1);
  const low = bytes[5] * 2 ** 32 + bytes.readUInt32BE(6);
  return `${prefix}_${encodeBase32(Date.now(), 10)}${encodeBase32(high, 8)}${encodeBase32(low, 8)}`;
}

/**
 * The smallest id with `prefix` made at `at` or later: `id >= idFloor('att', since)` selects, by
 * the primary key, the rows made since then (ids sort by creation time).
 */
export function idFloor(prefix: string, at: Date): string {
  return `${prefix}_${encodeBase32(Math.max(0, at.getTime()), 10)}`;
}
