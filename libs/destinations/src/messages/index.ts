export * from './signed-message';
export * from './templates';
