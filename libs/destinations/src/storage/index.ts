import type { DestinationKind } from '../kind';
import { azureServiceUrl } from './azure-blobs';
import { StorageConfig, storageConfigSchema } from './config';
import { s3Host } from './s3-objects';
import { StorageSender } from './send';

export * from './config';
export * from './s3-objects';
export * from './azure-blobs';
export * from './filesystem-directory';
export * from './send';
export * from './verdict';

/** The setting that sets the part size of S3 multipart uploads (bytes, at least 5 MiB; default 8 MiB). */
export const STORAGE_PART_BYTES_SETTING = 'DISPATCH_STORAGE_PART_BYTES';

/** Each delivered file written as an object: an S3-compatible bucket, an Azure Blob container, or a local directory. */
export const storageKind: DestinationKind<StorageConfig> = {
  kind: 'storage',
  configSchema: storageConfigSchema,
  secretFields: ['secretAccessKey', 'accountKey'],
  signsWithSecret: false,
  endpoints: (config) => {
    if (config.provider === 's3') return [{ path: 'endpoint', host: s3Host(config) }];
    if (config.provider === 'azure') return [{ path: 'endpoint', host: new URL(azureServiceUrl(config)).hostname }];
    return [];
  },
  createSender: (deps) => new StorageSender(deps, { partBytes: Number(process.env[STORAGE_PART_BYTES_SETTING]) || undefined }),
};
