export * from './kind';
export * from './egress';
export * from './registry';
export * from './webhook';
export * from './senders';
export * from './settings';
export * from './stored-secrets';
export * from './messages';
