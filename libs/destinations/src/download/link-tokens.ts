import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** A link id as download links are made (`dl_…`). */
const LINK_ID = /^dl_[0-9a-z]{1,64}$/;

/**
 * The tokens of download links: the link's id and its HMAC-SHA256 under a key derived from
 * DISPATCH_ENCRYPTION_KEY, so a token cannot be made or changed without the key (a changed one
 * names no link: 404), and none is stored. A token made under the previous key is still read
 * while DISPATCH_ENCRYPTION_KEY_PREVIOUS names it.
 */
export class DownloadTokens {
  private readonly keys: Buffer[];

  constructor(encryption: { current: Buffer; previous?: Buffer }) {
    this.keys = [encryption.current, ...(encryption.previous ? [encryption.previous] : [])].map((key) =>
      Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'dispatch download links', 32)),
    );
  }

  tokenOf(linkId: string): string {
    return `${linkId}.${mac(this.keys[0], linkId).toString('base64url')}`;
  }

  /** The link a token names, or null when it is not one this deployment made. */
  linkOf(token: string): string | null {
    const [linkId, signature, ...rest] = token.split('.');
    if (rest.length > 0 || !LINK_ID.test(linkId ?? '') || !signature) return null;
    const given = Buffer.from(signature, 'base64url');
    if (given.toString('base64url') !== signature) return null;
    return this.keys.some((key) => {
      const expected = mac(key, linkId);
      return given.length === expected.length && timingSafeEqual(given, expected);
    })
      ? linkId
      : null;
  }
}

function mac(key: Buffer, linkId: string): Buffer {
  return createHmac('sha256', key).update(linkId).digest();
}
