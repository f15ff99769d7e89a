export * from './file-store';
export * from './filesystem-file-store';
export * from './delivered-file';
