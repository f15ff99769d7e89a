import { randomBytes } from 'node:crypto';
import { DownloadTokens } from './link-tokens';

function setup() {
  const current = randomBytes(32);
  const previous = randomBytes(32);
  return { sut: new DownloadTokens({ current, previous }), current, previous };
}

describe('DownloadTokens', () => {
  it('reads back the link of a token it made', () => {
    const { sut } = setup();
    const token = sut.tokenOf('dl_0abc');
    expect(token).toMatch(/^dl_0abc\.[\w-]{43}$/);
    expect(sut.linkOf(token)).toBe('dl_0abc');
  });

  it('reads no link from a changed, cut or foreign token', () => {
    const { sut } = setup();
    const token = sut.tokenOf('dl_0abc');
    const [id, signature] = token.split('.');
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
    for (const changed of [`${id}.${flipped}`, `dl_0abd.${signature}`, id, `${token}.x`, `${id}.${signature.slice(0, -1)}`, `../etc.${signature}`])
      expect(sut.linkOf(changed)).toBeNull();
    expect(sut.linkOf(new DownloadTokens({ current: randomBytes(32) }).tokenOf('dl_0abc'))).toBeNull();
  });

  it('reads a token made under the previous key while the key rotates, and makes new ones with the current key', () => {
    const { sut, current, previous } = setup();
    const before = new DownloadTokens({ current: previous });
    expect(sut.linkOf(before.tokenOf('dl_1'))).toBe('dl_1');
    expect(sut.tokenOf('dl_1')).toBe(new DownloadTokens({ current }).tokenOf('dl_1'));
    expect(new DownloadTokens({ current }).linkOf(before.tokenOf('dl_1'))).toBeNull();
  });
});
