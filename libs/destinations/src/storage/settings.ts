import { DEFAULT_PART_BYTES } from './s3-objects';

/**
 * What a deployment sets for storage destinations (`DISPATCH_STORAGE_DIRECTORIES`,
 * `DISPATCH_STORAGE_PART_BYTES`, read and checked by the config module): given once at startup
 * by the API and the worker (`configureStorage`), before any config is validated or file sent.
 */
export type StorageDeploymentSettings = Readonly<{
  /** Absolute directories filesystem destinations may write under; none: that provider is refused. */
  directories: readonly string[];
  /** The part size of S3 multipart uploads. */
  partBytes: number;
}>;

let current: StorageDeploymentSettings = { directories: [], partBytes: DEFAULT_PART_BYTES };

export function configureStorage(settings: StorageDeploymentSettings): void {
  current = { directories: [...settings.directories], partBytes: settings.partBytes };
}

export function storageSettings(): StorageDeploymentSettings {
  return current;
}
