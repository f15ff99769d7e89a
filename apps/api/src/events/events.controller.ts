import { Body, Controller, Get, Headers, NotFoundException, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { EventRepository, EventStories } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { fieldsWithNul } from '@dispatch/domain';
import { badRequest, parse, parseBody } from '../http/errors';
import { jsonSchema } from '../http/openapi';
import { limitSchema, page, seqCursorSchema, timeSchema } from '../http/pagination';
import { acceptedView, eventView } from './event.view';
import { eventAnswerSchema, eventStoryAnswerSchema, eventStoryView } from './event-story.view';
import { IngestEvent, ingestBatchSchema, ingestEventSchema, InvalidEvent } from '@dispatch/ingest';
import { Metrics } from '../operations/metrics';

const listQuery = z.object({
  type: z.string().max(255).optional(),
  correlationId: z.string().min(1).max(255).optional(),
  since: timeSchema,
  until: timeSchema,
  cursor: seqCursorSchema,
  limit: limitSchema,
});

const idempotencyKeySchema = z.string().trim().min(1).max(255).optional();

@ApiTags('events')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/events')
export class EventsController {
  constructor(
    private readonly ingestEvent: IngestEvent,
    private readonly events: EventRepository,
    private readonly stories: EventStories,
    private readonly metrics: Metrics,
  ) {}

  @Post()
  @Access('produce')
  @ApiOperation({ summary: 'Send an event: 202 when accepted, 200 with the same body when its id was already accepted' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Used as the event id when the body has none' })
  @ApiBody({ schema: jsonSchema(ingestEventSchema) })
  async ingest(
    @CurrentCaller() caller: Caller,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) response: FastifyReply,
  ) {
    const input = parseBody(ingestEventSchema, body);
    const key = parse(idempotencyKeySchema, idempotencyKey, 'Idempotency-Key');
    const result = await this.ingestEvent.execute(caller.organizationId, input, key).catch(asBadRequest);
    this.metrics.eventsReceived.inc();
    if (result.created) this.metrics.eventsAccepted.inc();
    response.status(result.created ? 202 : 200);
    return acceptedView(result);
  }

  @Post('batch')
  @Access('produce')
  @ApiOperation({
    summary:
      'Send 1 to 500 events in one transaction: 202 with one answer per event in the order sent (created false for an id accepted before), 200 when none is new; any invalid event refuses the whole batch',
  })
  @ApiBody({ schema: jsonSchema(ingestBatchSchema) })
  async ingestBatch(
    @CurrentCaller() caller: Caller,
    @Body() body: unknown,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) response: FastifyReply,
  ) {
    if (idempotencyKey !== undefined) {
      throw badRequest([{ path: 'Idempotency-Key', message: 'is not accepted on a batch: give each event an id, which makes it idempotent on its own' }]);
    }
    const events = (body as { events?: unknown } | null)?.events;
    const withNul = Array.isArray(events)
      ? events.flatMap((event: unknown, index) => (typeof event === 'object' && event !== null ? fieldsWithNul(event, `events.${index}`) : []))
      : [];
    if (withNul.length > 0) throw badRequest(withNul);
    const input = parseBody(ingestBatchSchema, body);
    const results = await this.ingestEvent.executeBatch(caller.organizationId, input.events).catch(asBadRequest);
    this.metrics.eventsReceived.inc(results.length);
    const created = results.filter((result) => result.created).length;
    if (created > 0) this.metrics.eventsAccepted.inc(created);
    response.status(results.some((result) => result.created) ? 202 : 200);
    return { events: results.map((result) => ({ id: result.event.id, type: result.event.type, created: result.created, deliveries: result.deliveries })) };
  }

  @Get()
  @Access('read')
  @ApiOperation({ summary: 'List events, newest first' })
  @ApiQuery({ name: 'type', required: false, description: 'Only events of this type (exact)' })
  @ApiQuery({ name: 'correlationId', required: false, description: 'Only events with this correlation id' })
  @ApiQuery({ name: 'since', required: false, description: 'ISO-8601 time: events received at or after it' })
  @ApiQuery({ name: 'until', required: false, description: 'ISO-8601 time: events received before it' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiQuery({ name: 'limit', required: false, description: '1–200, default 50' })
  @ApiResponse({
    status: 200,
    description: 'A page of events; nextCursor (null on the last page) asks for the next',
    schema: jsonSchema(z.object({ data: z.array(eventAnswerSchema), nextCursor: z.string().nullable() })),
  })
  @ApiResponse({ status: 400, description: 'A bad time, cursor or limit, or an empty correlationId; the answer names the field' })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { limit, cursor, ...filter } = parse(listQuery, query, 'query');
    const found = await this.events.list(caller.organizationId, { ...filter, beforeSeq: cursor }, limit);
    return page(found, limit, eventView, (event) => event.seq.toString());
  }

  @Get(':id')
  @Access('read')
  @ApiOperation({
    summary: "What happened to an event: the event (with traceId and dataBytes) and, per destination, the delivery's attempts and what was sent",
  })
  @ApiResponse({ status: 200, description: 'The event and its deliveries', schema: jsonSchema(eventStoryAnswerSchema) })
  @ApiResponse({ status: 404, description: 'No event of the organization has this id' })
  async get(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const story = await this.stories.find(caller.organizationId, id);
    if (!story) throw new NotFoundException(`Event ${id} not found`);
    return eventStoryView(story);
  }
}

/** An event that cannot be accepted as sent is a 400 naming each wrong field; any other error goes on as it is. */
function asBadRequest(error: unknown): never {
  if (error instanceof InvalidEvent) throw badRequest(error.problems);
  throw error;
}
