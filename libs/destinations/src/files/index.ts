export * from './file-store';
export * from './filesystem-file-store';
export * from './delivered-file';
export * from './s3-file-store';
export * from './file-store-settings';
