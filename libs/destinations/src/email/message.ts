import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FileStore } from '../files/file-store';
import { DeliveredFile, deliveredFile } from '../files/delivered-file';
import type { SendRequest } from '../kind';
import { renderTemplate, TemplateError } from '../messages/templates';
import type { EmailConfig } from './config';
import { UnsendableEmailError } from './verdict';

/** One email as every transport sends it: the filled subject, a text body, and the file attached (or none, when its text is the body). */
export type EmailMessage = {
  from: string;
  to: string[];
  subject: string;
  text: string;
  attachment: DeliveredFile | null;
};

/**
 * The email an attempt sends. With `attach`, the delivered file is attached and the body says
 * what it is; without, the file's text is the body, which only a text file (inline
 * `data.content`, or the event's JSON) can be: an uploaded file or `data.contentBase64` is
 * refused (permanent).
 */
export async function emailMessage(request: SendRequest<EmailConfig>, files: FileStore): Promise<EmailMessage> {
  const { config, event } = request;
  let subject: string;
  try {
    subject = renderTemplate(config.subject, request);
  } catch (error) {
    if (error instanceof TemplateError) throw new UnsendableEmailError(`subject: ${error.message}`);
    throw error;
  }
  // A subject is one header line.
  subject = subject.replace(/[\r\n]+/g, ' ');
  const file = await deliveredFile(request, files);
  const envelope = { from: config.from, to: config.to, subject };
  if (config.attach) return { ...envelope, text: `Event ${event.type} (${event.id}): ${file.name} is attached.`, attachment: file };
  if (!isText(file.contentType))
    throw new UnsendableEmailError(
      `attach is false, but ${file.name} is not text (an uploaded file or data.contentBase64): only text can be the body of an email; set attach to true`,
    );
  return { ...envelope, text: await textOf(file), attachment: null };
}

function isText(contentType: string): boolean {
  return contentType.startsWith('text/') || contentType.startsWith('application/json');
}

/** The whole text of a small, inline file (never an uploaded one). */
async function textOf(file: DeliveredFile): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await file.open()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A stream's bytes as base64, in pieces (each a whole number of 3-byte groups but the last), never the whole. */
export async function* base64Of(stream: Readable): AsyncGenerator<string> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    const bytes = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    const whole = bytes.length - (bytes.length % 3);
    if (whole > 0) yield bytes.subarray(0, whole).toString('base64');
    rest = bytes.subarray(whole);
  }
  if (rest.length > 0) yield rest.toString('base64');
}

/**
 * A JSON body whose one string field holds a file as base64, streamed: `build` makes the
 * payload given the placeholder to put where the base64 goes. Gives the body and its exact
 * length (the file's size is known).
 */
export function jsonWithFile(build: (placeholder: string) => unknown, file: DeliveredFile): { body: AsyncIterable<Buffer>; length: number } {
  const placeholder = `file-${randomUUID()}`;
  const [head, tail] = JSON.stringify(build(placeholder))
    .split(placeholder)
    .map((part) => Buffer.from(part, 'utf8'));
  return {
    length: head.length + tail.length + Math.ceil(file.size / 3) * 4,
    body: (async function* () {
      yield head;
      for await (const piece of base64Of(await file.open())) yield Buffer.from(piece, 'latin1');
      yield tail;
    })(),
  };
}
