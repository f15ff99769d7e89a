import { Readable } from 'node:stream';
import { webhookBody } from '@dispatch/domain';
import type { SendRequest } from '../kind';
import { renderTemplate, TemplateError, templateSchema } from '../messages/templates';
import { FILE_ID, FileMissingError, FileStore } from './file-store';

/** The file name a file kind's config gives when it gives none. */
export const DEFAULT_FILE_NAME = '{event.id}.json';

/** `fileName` in a file kind's config: a template of one file name (no directory). */
export const fileNameSchema = templateSchema('fileName')
  .refine((template) => !/[/\\\0]/.test(template), 'fileName must be a file name, without "/" or "\\"')
  .default(DEFAULT_FILE_NAME);

/** What a file kind delivers for one attempt. */
export type DeliveredFile = {
  /** From the config's `fileName` template: one path segment, never `.` or `..`. */
  name: string;
  contentType: string;
  size: number;
  /** The bytes, streamed (each call a new stream). */
  open(): Promise<Readable>;
};

/**
 * Why a delivery has no file to send: its template cannot be filled, its `fileId` names no
 * stored file, or its inline content is not what it says. Permanent: retrying changes nothing.
 */
export class UndeliverableFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndeliverableFileError';
  }
}

/**
 * The file an attempt delivers: the file uploaded with `POST /v1/files` that `data.fileId`
 * names (streamed from `files`), else `data.content` (text, UTF-8), else `data.contentBase64`,
 * else the event as a webhook receives it (JSON). Named by `config.fileName`.
 * Throws `UndeliverableFileError` (permanent).
 */
export async function deliveredFile(request: SendRequest<{ fileName?: string }>, files: FileStore): Promise<DeliveredFile> {
  const name = fileNameOf(request);
  const raw = request.event.data;
  const data: Record<string, unknown> = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  if (typeof data.fileId === 'string') {
    const id = data.fileId;
    const size = FILE_ID.test(id) ? await files.size(id) : null;
    if (size === null) throw new UndeliverableFileError(new FileMissingError(id).message);
    return { name, contentType: 'application/octet-stream', size, open: () => files.open(id) };
  }
  if (typeof data.content === 'string') return inMemory(name, 'text/plain; charset=utf-8', Buffer.from(data.content, 'utf8'));
  if (typeof data.contentBase64 === 'string') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data.contentBase64.replace(/\s/g, ''))) throw new UndeliverableFileError('data.contentBase64 is not base64');
    return inMemory(name, 'application/octet-stream', Buffer.from(data.contentBase64, 'base64'));
  }
  return inMemory(name, 'application/json', Buffer.from(webhookBody(request.event), 'utf8'));
}

function fileNameOf(request: SendRequest<{ fileName?: string }>): string {
  let name: string;
  try {
    name = renderTemplate(request.config.fileName ?? DEFAULT_FILE_NAME, request);
  } catch (error) {
    if (error instanceof TemplateError) throw new UndeliverableFileError(`fileName: ${error.message}`);
    throw error;
  }
  if (name === '.' || name === '..' || /[/\\\0]/.test(name) || Buffer.byteLength(name) > 255)
    throw new UndeliverableFileError(`fileName "${name.slice(0, 100)}" is not a file name (no "/", "\\", "." or ".."; at most 255 bytes)`);
  return name;
}

function inMemory(name: string, contentType: string, bytes: Buffer): DeliveredFile {
  return { name, contentType, size: bytes.length, open: async () => Readable.from([bytes]) };
}
