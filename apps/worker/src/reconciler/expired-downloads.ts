import { Inject, Injectable, Logger } from '@nestjs/common';
import { DownloadLinkRepository } from '@dispatch/db';
import { FILE_STORE, FileStore } from '@dispatch/destinations';

/** How many expired links one maintenance pass handles at most. */
const BATCH = 500;

/**
 * Removes the files of download links that have expired (a pass of the maintenance queue): the
 * bytes first, then the link is marked, so a file is never left behind by a link that says it
 * is gone. The link itself stays, answering 410, with its downloads listed.
 */
@Injectable()
export class ExpiredDownloads {
  private readonly logger = new Logger(ExpiredDownloads.name);

  constructor(
    private readonly links: DownloadLinkRepository,
    @Inject(FILE_STORE) private readonly store: FileStore,
  ) {}

  /** Answers how many files were removed. */
  async run(now: Date): Promise<number> {
    const expired = await this.links.expiredWithFiles(now, BATCH);
    if (expired.length === 0) return 0;
    for (const link of expired) await this.store.remove(link.fileId);
    await this.links.markFilesRemoved(
      expired.map((link) => link.id),
      now,
    );
    this.logger.log(`Removed the files of ${expired.length} expired download links`);
    return expired.length;
  }
}
