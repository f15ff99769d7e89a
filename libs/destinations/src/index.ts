export * from './kind';
export * from './registry';
export * from './webhook';
export * from './senders';
export * from './settings';
