import { Module } from '@nestjs/common';
import { IngestEvent } from './ingest-event';
import { RoutingTable } from './routing-table';

/** Accepting events, for every app that takes them in (the API, the worker's stream ingest); needs the database and queue modules. */
@Module({ providers: [IngestEvent, RoutingTable], exports: [IngestEvent, RoutingTable] })
export class IngestModule {}
