import os from 'node:os';
import path from 'node:path';
import { FilesystemFileStore } from '@dispatch/destinations';

/** A file store with no files, for senders whose tests deliver no uploaded file. */
export function emptyFileStore(): FilesystemFileStore {
  return new FilesystemFileStore(path.join(os.tmpdir(), 'dispatch-test-no-files'));
}
