import { Controller, Get, NotFoundException, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Caller, DeliveryRepository, Replay, ReplayRepository } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';

const SETTLED = ['delivered', 'failed', 'cancelled'] as const;

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
