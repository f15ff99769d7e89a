import { newId } from '@dispatch/domain';
import type { DownloadLinks, NewDownloadLink } from '../kind';
import { DownloadTokens } from './link-tokens';

/** Download links recorded by `record` (the database), their URLs `<publicUrl>/d/<token>`. */
export class RecordedDownloadLinks implements DownloadLinks {
  constructor(
    private readonly record: (link: NewDownloadLink & { id: string }) => Promise<void>,
    private readonly tokens: DownloadTokens,
    private readonly publicUrl: string,
  ) {}

  async create(link: NewDownloadLink): Promise<{ url: string }> {
    const id = newId('dl');
    await this.record({ id, ...link });
    return { url: downloadUrl(this.publicUrl, this.tokens.tokenOf(id)) };
  }
}

export function downloadUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/d/${token}`;
}
