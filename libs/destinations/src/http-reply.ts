import { StringDecoder } from 'node:string_decoder';
import type { Dispatcher } from 'undici';

/**
 * The start of an HTTP answer's body, as text: at most `maxBytes` are read (the rest is not
 * waited for), and a cut answer keeps only whole UTF-8 characters.
 */
export async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    chunks.push(buffer.subarray(0, maxBytes - size));
    size += buffer.length;
    if (size >= maxBytes) {
      body.destroy();
      break;
    }
  }
  // A cut answer may end inside a multi-byte character: only whole characters are kept.
  const decoder = new StringDecoder('utf8');
  const text = decoder.write(Buffer.concat(chunks));
  return size < maxBytes ? text + decoder.end() : text;
}
