import { Readable } from 'node:stream';
import { newId } from '@dispatch/domain';
import type { SendRequest, SendResult, Sender, SenderDeps } from '../kind';
import { deliveredFile, DeliveredFile, UndeliverableFileError } from '../files/delivered-file';
import type { DownloadConfig } from './config';

/**
 * A delivery to a `download` destination: the file is copied (streamed) into the file store
 * under an id of its own and a signed link to it is made; the attempt's reply is the link,
 * as JSON. Opens no connection.
 */
export class DownloadSender implements Sender<DownloadConfig> {
  constructor(private readonly deps: SenderDeps) {}

  async send(request: SendRequest<DownloadConfig>, signal: AbortSignal): Promise<SendResult> {
    const started = Date.now();
    const took = () => Date.now() - started;
    const links = this.deps.downloads;
    if (!links) return { verdict: 'transient', durationMs: took(), error: 'download links cannot be made in this process' };
    let file: DeliveredFile;
    try {
      file = await deliveredFile(request, this.deps.files);
    } catch (error) {
      if (error instanceof UndeliverableFileError) return { verdict: 'permanent', durationMs: took(), error: error.message };
      throw error;
    }
    const fileId = newId('fil');
    try {
      const content = await file.open();
      signal.addEventListener('abort', () => content.destroy(new Error('timeout: the attempt ran out of time')), { once: true });
      const stored = await this.deps.files.put(fileId, content);
      const expiresAt = new Date(Date.now() + request.config.expiresInSeconds * 1000);
      const { maxDownloads } = request.config;
      const { url } = await links.create({
        organizationId: request.organizationId,
        deliveryId: request.deliveryId,
        fileId,
        name: file.name,
        contentType: file.contentType,
        size: stored.size,
        expiresAt,
        maxDownloads,
      });
      const reply = JSON.stringify({ url, expiresAt: expiresAt.toISOString(), maxDownloads, name: file.name, size: stored.size, sha256: stored.sha256 });
      return { verdict: 'delivered', durationMs: took(), reply };
    } catch (error) {
      await this.deps.files.remove(fileId).catch(() => undefined);
      return { verdict: 'transient', durationMs: took(), error: `the file could not be kept for download: ${(error as Error).message}` };
    }
  }

  /** Checks that the file store takes a file (a link needs nothing else). */
  async test(): Promise<SendResult> {
    const started = Date.now();
    const probe = newId('fil');
    try {
      await this.deps.files.put(probe, Readable.from([Buffer.from('dispatch')]));
      await this.deps.files.remove(probe);
      return { verdict: 'delivered', durationMs: Date.now() - started, reply: 'the file store takes files' };
    } catch (error) {
      return { verdict: 'transient', durationMs: Date.now() - started, error: `the file store does not take files: ${(error as Error).message}` };
    }
  }

  async close(): Promise<void> {}
}
