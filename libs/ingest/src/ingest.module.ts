import { Module } from '@nestjs/common';
import { IngestEvent } from './ingest-event';
import { OperationalEvents } from './operational-events';
import { RoutingTable } from './routing-table';

/**
 * Accepting events, for every app that takes them in (the API, the worker's stream ingest), and
 * emitting Dispatch's own (`OperationalEvents`: alerts from the worker, presence from the API);
 * needs the database and queue modules.
 */
@Module({ providers: [IngestEvent, RoutingTable, OperationalEvents], exports: [IngestEvent, RoutingTable, OperationalEvents] })
export class IngestModule {}
