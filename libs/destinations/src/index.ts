export * from './kinds';
export * from './webhook';
