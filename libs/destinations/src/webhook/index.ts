export * from './config';
export * from './send';
