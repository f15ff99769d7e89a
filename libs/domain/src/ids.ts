import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeBase32(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/**
 * A new id such as `dlv_01jd3k…`: the prefix names the kind of object; the rest is a
 * millisecond timestamp and 80 random bits, so ids sort by creation time.
 */
export function newId(prefix: string): string {
  const time = encodeBase32(BigInt(Date.now()), 10);
  const random = encodeBase32(BigInt(`0x${randomBytes(10).toString('hex')}`), 16);
  return `${prefix}_${time}${random}`;
}
