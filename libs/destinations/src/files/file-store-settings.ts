import type { S3Location } from '../storage/s3-objects';
import type { FileStore } from './file-store';
import { FilesystemFileStore } from './filesystem-file-store';
import { S3FileStore } from './s3-file-store';

/** Where the deployment keeps files: a directory (DISPATCH_FILES_DIR), or a bucket when DISPATCH_FILES_S3_BUCKET is set. */
export type FileStoreSettings = { directory: string; s3?: S3Location & { prefix: string } };

/** The deployment's file store, as its settings say. */
export function createFileStore(settings: FileStoreSettings): FileStore {
  if (!settings.s3) return new FilesystemFileStore(settings.directory);
  const { prefix, ...location } = settings.s3;
  return new S3FileStore(location, prefix);
}
