import type { DestinationKind } from '../kind';
import { azureServiceUrl } from './azure-blobs';
import { StorageConfig, storageConfigSchema } from './config';
import { s3Host } from './s3-objects';
import { StorageSender } from './send';
import { storageSettings } from './settings';

export * from './config';
export * from './s3-objects';
export * from './azure-blobs';
export * from './filesystem-directory';
export * from './send';
export * from './verdict';
export * from './settings';

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
  createSender: (deps) => new StorageSender(deps, { partBytes: storageSettings().partBytes }),
};
