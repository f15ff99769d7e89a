import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { retryPolicySchema } from '@dispatch/domain';
import { EgressGuard } from '../egress';
import { FilesystemFileStore } from '../files';
import type { NewDownloadLink } from '../kind';
import { downloadConfigSchema } from './config';
import { DownloadSender } from './send';

async function setup() {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'dispatch-download-'));
  const files = new FilesystemFileStore(directory);
  const mocks = {
    files,
    links: { create: jest.fn(async (link: NewDownloadLink) => ({ url: `https://dispatch.test/d/${link.fileId}.sig` })) },
  };
  const sut = new DownloadSender({ timeoutMs: 1_000, replyMaxBytes: 4_096, egress: new EgressGuard([]), files, downloads: mocks.links });
  const request = (data: unknown, config: Record<string, unknown> = {}) => ({
    destinationId: 'dst_1',
    organizationId: 'org_1',
    config: downloadConfigSchema.parse(config),
    secrets: [],
    retryPolicy: retryPolicySchema.parse({}),
    deliveryId: 'dlv_1',
    attemptNumber: 1,
    event: { id: 'evt_1', type: 'report.ready', data, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  });
  return { sut, mocks, request, directory, cleanUp: () => rm(directory, { recursive: true, force: true }) };
}

describe('DownloadSender', () => {
  it('keeps the file under a new id and answers the link as its reply', async () => {
    const { sut, mocks, request, cleanUp } = await setup();
    const result = await sut.send(request({ content: 'hello' }, { maxDownloads: 2, expiresInSeconds: 600, fileName: 'greeting.txt' }), new AbortController().signal);
    expect(result.verdict).toBe('delivered');
    const [[link]] = mocks.links.create.mock.calls;
    expect(link).toMatchObject({
      organizationId: 'org_1',
      deliveryId: 'dlv_1',
      name: 'greeting.txt',
      contentType: 'text/plain; charset=utf-8',
      size: 5,
      maxDownloads: 2,
    });
    expect(link.expiresAt.getTime() - Date.now()).toBeGreaterThan(590_000);
    expect(await text(await mocks.files.open(link.fileId))).toBe('hello');
    expect(JSON.parse(result.reply as string)).toEqual({
      url: `https://dispatch.test/d/${link.fileId}.sig`,
      expiresAt: link.expiresAt.toISOString(),
      maxDownloads: 2,
      name: 'greeting.txt',
      size: 5,
      sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    });
    await cleanUp();
  });

  it('fails for good when there is no file to deliver, and transiently, keeping nothing, when the link cannot be recorded', async () => {
    const { sut, mocks, request, directory, cleanUp } = await setup();
    const missing = await sut.send(request({ fileId: 'fil_gone' }), new AbortController().signal);
    expect(missing).toMatchObject({ verdict: 'permanent', error: expect.stringContaining('file fil_gone does not exist') });

    mocks.links.create.mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
    const failed = await sut.send(request({ content: 'hello' }), new AbortController().signal);
    expect(failed).toMatchObject({ verdict: 'transient', error: 'the file could not be kept for download: Connection terminated unexpectedly' });
    expect(await readdir(directory)).toEqual([]);
    await cleanUp();
  });
});
