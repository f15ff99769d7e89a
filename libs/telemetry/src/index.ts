export * from './attributes';
export * from './queue-telemetry';
export * from './start';
export * from './tracing';
export * from './tracing.module';
