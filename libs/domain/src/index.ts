export * from './ids';
export * from './api-key';
export * from './event-type-pattern';
export * from './signing';
export * from './delivery-status';
export * from './retry-policy';
export * from './attempt-outcome';
export * from './webhook-payload';
