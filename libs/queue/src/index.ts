export * from './names';
export * from './jobs';
export * from './job-priority';
export * from './connection';
export * from './delivery-queues';
export * from './queue.module';
export * from './enqueue-request';
export * from './adaptive-rates';
