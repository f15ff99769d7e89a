import { Injectable } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { DownloadLinkRepository } from '@dispatch/db';
import { downloadUrl, DownloadTokens } from '@dispatch/destinations';

/** What `GET /v1/deliveries/:id` says of a delivery's download link (`download`). */
export type DownloadView = { url: string; expiresAt: string; maxDownloads: number | null; downloads: number; expired: boolean };

/** The download link a delivery made, as its answer shows it (the URL made again from the link: no token is stored). */
@Injectable()
export class DownloadLinksReader {
  constructor(
    private readonly links: DownloadLinkRepository,
    private readonly tokens: DownloadTokens,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {}

  async of(organizationId: string, deliveryId: string): Promise<DownloadView | undefined> {
    const link = await this.links.latestOf(organizationId, deliveryId);
    if (!link) return undefined;
    return {
      url: downloadUrl(this.config.publicUrl, this.tokens.tokenOf(link.id)),
      expiresAt: link.expiresAt.toISOString(),
      maxDownloads: link.maxDownloads,
      downloads: link.downloads,
      expired: link.expiresAt.getTime() <= Date.now() || link.fileRemovedAt !== null,
    };
  }
}
