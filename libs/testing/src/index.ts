export * from './database';
export * from './redis';
export * from './receiver';
export * from './factories';
export * from './api-client';
export * from './api-fixtures';
export * from './tcp-proxy';
export * from './redis-server';
