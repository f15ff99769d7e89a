import { Controller, Get, NotFoundException, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { DeadLetterCategory, DeadLetterRepository, DestinationRepository } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import { FAILURE_CATEGORIES } from '@dispatch/domain';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { badRequest, parse } from '../http/errors';
import { jsonSchema } from '../http/openapi';
import { timeSchema } from '../http/pagination';
import { selectionPreviewSchema } from './delivery-selection.schema';

const categoriesQuery = z
  .object({
    since: timeSchema,
    until: timeSchema,
    destinationId: z.string().min(1).max(100).optional(),
  })
  .strict();

export const deadLetterCategoriesAnswerSchema = z.object({
  data: z
    .array(
      z.object({
        category: z.enum(FAILURE_CATEGORIES),
        ...selectionPreviewSchema.shape,
        oldestAt: z.string().meta({ format: 'date-time' }).nullable().describe('When the oldest of them was created; null when there is none'),
        newestAt: z.string().meta({ format: 'date-time' }).nullable().describe('When the newest of them was created; null when there is none'),
      }),
    )
    .describe('Every category, in this order: receiver_4xx, receiver_5xx, timeout_or_network, egress_refused, configuration (count 0 included)'),
});

@ApiTags('deliveries')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/dead-letters')
export class DeadLettersController {
  constructor(
    private readonly deadLetters: DeadLetterRepository,
    private readonly destinations: DestinationRepository,
  ) {}

  @Get('categories')
  @Access('read')
  @ApiOperation({
    summary: 'Dead letters (failed deliveries) grouped by why they failed',
    description:
      'receiver_4xx and receiver_5xx: the receiver answered with such a status; timeout_or_network: the attempts ran out on timeouts or connection errors; ' +
      "egress_refused: the egress guard refused the address; configuration: what the destination's settings ask cannot be done (a template the event cannot fill, " +
      'refused credentials, a missing target, a redirect). since and until select by creation time, as POST /v1/deliveries/retry does: replay a group with ' +
      '{ failureCategory, since, until, destinationId } (dryRun: true first for its preview).',
  })
  @ApiQuery({ name: 'since', required: false, description: 'ISO-8601 time: dead letters created at or after it' })
  @ApiQuery({ name: 'until', required: false, description: 'ISO-8601 time: dead letters created before it' })
  @ApiQuery({ name: 'destinationId', required: false, description: "Only this destination's dead letters" })
  @ApiResponse({ status: 200, description: 'Every category, count 0 included', schema: jsonSchema(deadLetterCategoriesAnswerSchema) })
  @ApiResponse({ status: 400, description: 'A bad time, since not before until, or an unknown parameter; the answer names it' })
  @ApiResponse({ status: 404, description: 'No such destination in the organization' })
  async categories(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const input = parse(categoriesQuery, query, 'query');
    if (input.since && input.until && input.since.getTime() >= input.until.getTime()) throw badRequest([{ path: 'query.since', message: 'must be before until' }]);
    if (input.destinationId !== undefined && !(await this.destinations.find(caller.organizationId, input.destinationId))) {
      throw new NotFoundException(`Destination ${input.destinationId} not found`);
    }
    const categories = await this.deadLetters.categories(caller.organizationId, input);
    return { data: categories.map(categoryView) };
  }
}

function categoryView(category: DeadLetterCategory) {
  return { ...category, oldestAt: category.oldestAt?.toISOString() ?? null, newestAt: category.newestAt?.toISOString() ?? null };
}
