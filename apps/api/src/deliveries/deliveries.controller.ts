import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { DELIVERY_STATUSES } from '@dispatch/domain';
import { DeliveryRepository } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { parse, parseBody } from '../http/errors';
import { idCursorSchema, limitSchema, page, timeSchema } from '../http/pagination';
import { jsonSchema } from '../http/openapi';
import { AuditTrail } from '../audit/audit-trail';
import { CancelDeliveries } from './cancel-deliveries';
import { deliverySelectionSchema, selectionPreviewSchema } from './delivery-selection.schema';
import { attemptView, deliveryView } from './delivery.view';
import { ReplayDeliveries } from './replay-deliveries';
import { attemptAnswerSchema, deliveryAnswerSchema } from '../events/event-story.view';
import { RetryDelivery } from './retry-delivery';
import { DownloadLinksReader } from '../downloads/download-links.reader';

const listQuery = z.object({
  status: z.enum(DELIVERY_STATUSES).optional(),
  destinationId: z.string().max(100).optional(),
  eventId: z.string().max(255).optional(),
  since: timeSchema,
  until: timeSchema,
  cursor: idCursorSchema,
  limit: limitSchema,
});

/** GET /v1/deliveries/:id. */
const deliveryDetailAnswerSchema = deliveryAnswerSchema.extend({
  attempts: z.array(attemptAnswerSchema),
  download: z
    .object({ url: z.string(), expiresAt: z.string().meta({ format: 'date-time' }), maxDownloads: z.int().nullable(), downloads: z.int(), expired: z.boolean() })
    .optional()
    .describe('The link of the file the delivery made, when its kind makes one'),
});

@ApiTags('deliveries')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/deliveries')
export class DeliveriesController {
  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly retryDelivery: RetryDelivery,
    private readonly replayDeliveries: ReplayDeliveries,
    private readonly cancelDeliveries: CancelDeliveries,
    private readonly audit: AuditTrail,
    private readonly downloads: DownloadLinksReader,
  ) {}

  @Get()
  @Access('read')
  @ApiOperation({ summary: 'List deliveries, newest first; status=failed lists dead letters' })
  @ApiResponse({
    status: 200,
    description: 'A page of deliveries; nextCursor (null on the last page) asks for the next',
    schema: jsonSchema(z.object({ data: z.array(deliveryAnswerSchema), nextCursor: z.string().nullable() })),
  })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { limit, cursor, ...filter } = parse(listQuery, query, 'query');
    const found = await this.deliveries.list(caller.organizationId, { ...filter, before: cursor }, limit);
    return page(found, limit, deliveryView, (delivery) => delivery.id);
  }

  @Post('retry')
  @Access('admin')
  @ApiOperation({
    summary:
      'Replay: a new attempt now for every selected delivery (dead letters when no status is given); dryRun answers what it would touch (count, bytes, destinations) and changes nothing',
  })
  @ApiBody({ schema: jsonSchema(deliverySelectionSchema) })
  @ApiResponse({ status: 202, description: 'The replay started', schema: jsonSchema(z.object({ count: z.int(), replayId: z.string() })) })
  @ApiResponse({ status: 200, description: 'dryRun: what the replay would touch', schema: jsonSchema(selectionPreviewSchema) })
  @ApiResponse({ status: 400, description: 'A bad field of the selection, named in the answer; nothing was replayed' })
  async replay(@CurrentCaller() caller: Caller, @Body() body: unknown, @Res({ passthrough: true }) response: FastifyReply) {
    const input = parseBody(deliverySelectionSchema, body);
    const answer = await this.replayDeliveries.execute(caller, input);
    response.status(input.dryRun ? 200 : 202);
    return answer;
  }

  @Post('cancel')
  @Access('admin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel every selected delivery (pending and retrying ones when no status is given); dryRun only counts' })
  @ApiBody({ schema: jsonSchema(deliverySelectionSchema) })
  cancelMany(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    return this.cancelDeliveries.many(caller, parseBody(deliverySelectionSchema, body));
  }

  @Get(':id')
  @Access('read')
  @ApiOperation({ summary: 'A delivery with every attempt, oldest first, and the download link of a file it made' })
  @ApiResponse({ status: 200, description: 'The delivery', schema: jsonSchema(deliveryDetailAnswerSchema) })
  @ApiResponse({ status: 404, description: 'No delivery of the organization has this id' })
  async get(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const delivery = await this.deliveries.find(caller.organizationId, id);
    if (!delivery) throw new NotFoundException(`Delivery ${id} not found`);
    const download = await this.downloads.of(caller.organizationId, id);
    return { ...deliveryView(delivery), attempts: delivery.attempts.map(attemptView), ...(download ? { download } : {}) };
  }

  @Post(':id/retry')
  @Access('admin')
  @HttpCode(202)
  @ApiOperation({ summary: 'Make a new attempt now (trigger manual), whatever the status' })
  async retry(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const delivery = await this.retryDelivery.execute(caller.organizationId, id);
    await this.audit.record(caller, 'delivery.retry', id);
    return deliveryView(delivery);
  }

  @Post(':id/cancel')
  @Access('admin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a waiting delivery or a dead letter: no more attempts' })
  async cancel(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    await this.cancelDeliveries.one(caller, id);
    const delivery = await this.deliveries.find(caller.organizationId, id);
    return delivery ? deliveryView(delivery) : null;
  }
}
