import { Controller, Get, HttpCode, NotFoundException, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { DELIVERY_STATUSES } from '@dispatch/domain';
import { DeliveryRepository } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { parse } from '../http/errors';
import { limitSchema, page, seqCursorSchema, timeSchema } from '../http/pagination';
import { attemptView, deliveryView } from './delivery.view';
import { RetryDelivery } from './retry-delivery';

const listQuery = z.object({
  status: z.enum(DELIVERY_STATUSES).optional(),
  destinationId: z.string().max(100).optional(),
  eventId: z.string().max(255).optional(),
  since: timeSchema,
  until: timeSchema,
  cursor: seqCursorSchema,
  limit: limitSchema,
});

@ApiTags('deliveries')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/deliveries')
export class DeliveriesController {
  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly retryDelivery: RetryDelivery,
  ) {}

  @Get()
  @Access('read')
  @ApiOperation({ summary: 'List deliveries, newest first; status=failed lists dead letters' })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { limit, cursor, ...filter } = parse(listQuery, query, 'query');
    const found = await this.deliveries.list(caller.organizationId, { ...filter, beforeSeq: cursor }, limit);
    return page(found, limit, deliveryView, (delivery) => delivery.seq.toString());
  }

  @Get(':id')
  @Access('read')
  async get(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const delivery = await this.deliveries.find(caller.organizationId, id);
    if (!delivery) throw new NotFoundException(`Delivery ${id} not found`);
    return { ...deliveryView(delivery), attempts: delivery.attempts.map(attemptView) };
  }

  @Post(':id/retry')
  @Access('admin')
  @HttpCode(202)
  @ApiOperation({ summary: 'Make a new attempt now (trigger manual), whatever the status' })
  async retry(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    return deliveryView(await this.retryDelivery.execute(caller.organizationId, id));
  }
}
