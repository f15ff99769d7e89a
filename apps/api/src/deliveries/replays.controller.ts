import { Controller, Get, NotFoundException, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { DELIVERY_STATUSES } from '@dispatch/domain';
import { Caller, DeliveryRepository, Replay, ReplayRepository } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { jsonSchema } from '../http/openapi';

const SETTLED = ['delivered', 'failed', 'cancelled'] as const;

/** A replay's progress (view below), for the OpenAPI description. */
const replayAnswerSchema = z.object({
  id: z.string(),
  filter: z
    .record(z.string(), z.unknown())
    .describe('The selection it was started with, as recorded (statuses, destinationId, eventType, failureCategories, since, until)'),
  createdAt: z.string().meta({ format: 'date-time' }),
  createdBy: z.string().describe('The id of the API key that started it'),
  total: z.int().describe('Deliveries it selected'),
  done: z.int().describe('Of those, settled (delivered, failed or cancelled) since'),
  remaining: z.int(),
  byStatus: z.partialRecord(z.enum(DELIVERY_STATUSES), z.int()).describe('Its deliveries by status now'),
});

@ApiTags('deliveries')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/replays')
export class ReplaysController {
  constructor(
    private readonly replays: ReplayRepository,
    private readonly deliveries: DeliveryRepository,
  ) {}

  @Get()
  @Access('read')
  async list(@CurrentCaller() caller: Caller) {
    const replays = await this.replays.list(caller.organizationId, 50);
    return { data: await Promise.all(replays.map((replay) => this.view(replay))), nextCursor: null };
  }

  @Get(':id')
  @Access('read')
  @ApiOperation({ summary: 'Progress of a replay: done (settled since), remaining, and counts by status' })
  @ApiResponse({ status: 200, schema: jsonSchema(replayAnswerSchema) })
  @ApiResponse({ status: 404, description: 'No replay of the organization has this id' })
  async get(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const replay = await this.replays.find(caller.organizationId, id);
    if (!replay) throw new NotFoundException(`Replay ${id} not found`);
    return this.view(replay);
  }

  private async view(replay: Replay) {
    const byStatus = await this.deliveries.replayProgress(replay.id);
    const done = SETTLED.reduce((sum, status) => sum + (byStatus[status] ?? 0), 0);
    return {
      id: replay.id,
      filter: replay.filter,
      createdAt: replay.createdAt.toISOString(),
      createdBy: replay.createdBy,
      total: replay.total,
      done,
      remaining: Math.max(0, replay.total - done),
      byStatus,
    };
  }
}
