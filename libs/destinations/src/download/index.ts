import type { DestinationKind } from '../kind';
import { DownloadConfig, downloadConfigSchema } from './config';
import { DownloadSender } from './send';

export * from './config';
export * from './link-tokens';
export * from './links';
export * from './send';

/** A signed, expiring link to the file (`GET /d/<token>`), served by the API: opens no connection. */
export const downloadKind: DestinationKind<DownloadConfig> = {
  kind: 'download',
  configSchema: downloadConfigSchema,
  secretFields: [],
  signsWithSecret: false,
  endpoints: () => [],
  createSender: (deps) => new DownloadSender(deps),
};
