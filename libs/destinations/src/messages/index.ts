export * from './signed-message';
export * from './templates';
export * from './destination-connections';
