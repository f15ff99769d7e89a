import { Controller, Get, NotFoundException, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { DeliveryMetricsRepository, DestinationRepository } from '@dispatch/db';
import type { Caller, DeliveryMetrics } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { badRequest, parse } from '../http/errors';
import { timeSchema } from '../http/pagination';

/** The range covered when the caller gives no `since`. */
export const DEFAULT_RANGE_MS = 24 * 3_600_000;

/**
 * The longest range, in bucket widths: a day of minutes, or 60 days of hours. It bounds the
 * answer's size and the attempts one request reads. A range that does not start on a whole
 * minute or hour touches one bucket more (1441 buckets for the default day by minute).
 */
export const MAX_BUCKETS = 1_440;

const BUCKET_MS = { minute: 60_000, hour: 3_600_000 } as const;

export const deliveryMetricsQuery = z
  .object({
    destinationId: z.string().min(1).max(100).optional(),
    since: timeSchema,
    until: timeSchema,
    bucket: z.enum(['minute', 'hour'], { message: 'must be minute or hour' }).default('hour'),
  })
  .strict();

const COUNTS = { delivered: { type: 'integer' }, failed: { type: 'integer' }, retried: { type: 'integer' } };
const ANSWER_SCHEMA = {
  type: 'object',
  properties: {
    buckets: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          start: { type: 'string', format: 'date-time' },
          ...COUNTS,
          p50Ms: { type: 'number', nullable: true },
          p95Ms: { type: 'number', nullable: true },
        },
      },
    },
    totals: { type: 'object', properties: COUNTS },
  },
};

@ApiTags('metrics')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/metrics')
export class DeliveryMetricsController {
  constructor(
    private readonly metrics: DeliveryMetricsRepository,
    private readonly destinations: DestinationRepository,
  ) {}

  @Get('deliveries')
  @Access('read')
  @ApiOperation({
    summary: 'Deliveries delivered and failed (dead letters), attempts retried, and p50/p95 latency of delivered attempts, per minute or hour',
    description:
      'Every bucket of the range is listed, empty ones too (zeros, null percentiles). An attempt counts in the bucket in which it started. ' +
      'Default range: the last 24 hours; at most 24 hours with bucket=minute, 60 days with bucket=hour.',
  })
  @ApiQuery({ name: 'destinationId', required: false, description: "Only this destination's deliveries (default: the whole organization)" })
  @ApiQuery({ name: 'since', required: false, description: 'ISO-8601 time; default: 24 hours before until' })
  @ApiQuery({ name: 'until', required: false, description: 'ISO-8601 time; default: now' })
  @ApiQuery({ name: 'bucket', required: false, enum: ['minute', 'hour'], description: 'Width of a bucket (default hour)' })
  @ApiResponse({ status: 200, description: 'Every bucket of the range, oldest first, and the totals', schema: ANSWER_SCHEMA })
  @ApiResponse({ status: 400, description: 'A bad time, since not before until, an unknown bucket, or a range too long for the bucket' })
  @ApiResponse({ status: 404, description: 'No such destination in the organization' })
  async deliveries(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const input = parse(deliveryMetricsQuery, query, 'query');
    const until = input.until ?? new Date();
    const since = input.since ?? new Date(until.getTime() - DEFAULT_RANGE_MS);
    if (since.getTime() >= until.getTime()) throw badRequest([{ path: 'query.since', message: 'must be before until' }]);
    if (until.getTime() - since.getTime() > MAX_BUCKETS * BUCKET_MS[input.bucket]) {
      const longest = input.bucket === 'minute' ? '24 hours' : '60 days';
      throw badRequest([
        {
          path: 'query.bucket',
          message: `with ${input.bucket} buckets the range from since to until may be at most ${longest} (${MAX_BUCKETS} buckets): narrow it${input.bucket === 'minute' ? ', or use bucket=hour' : ''}`,
        },
      ]);
    }
    if (input.destinationId !== undefined && !(await this.destinations.find(caller.organizationId, input.destinationId))) {
      throw new NotFoundException(`Destination ${input.destinationId} not found`);
    }
    return metricsView(await this.metrics.read({ organizationId: caller.organizationId, destinationId: input.destinationId, since, until, bucket: input.bucket }));
  }
}

function metricsView(metrics: DeliveryMetrics) {
  return {
    buckets: metrics.buckets.map((bucket) => ({ ...bucket, start: bucket.start.toISOString() })),
    totals: metrics.totals,
  };
}
