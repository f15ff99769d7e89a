/** Accepting events: the schema of an event, routing, and the write and enqueue every way in shares; Dispatch's own events. */
export * from './event-schema';
export * from './invalid-event';
export * from './routing-table';
export * from './ingest-event';
export * from './operational-events';
export * from './ingest.module';
