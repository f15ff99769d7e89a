import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { Caller } from '@dispatch/db';
import { SubjectStreams } from '@dispatch/destinations';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { parse } from '../http/errors';
import { Presence } from './presence';
import { subjectSchema } from './subject';

const SESSION_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', example: 'wss_01jd2m4x9q8w0000abcd0000ef' },
    subject: { type: 'string', example: 'user_123' },
    process: { type: 'string', description: 'The API process holding the session (host:pid:tag)' },
    connectedAt: { type: 'string', format: 'date-time' },
    remoteAddress: { type: 'string', description: "The device's address as the API process saw it" },
  },
};

@ApiTags('live')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class LiveController {
  constructor(
    private readonly presence: Presence,
    private readonly streams: SubjectStreams,
  ) {}

  @Get('presence/:subject')
  @Access('read')
  @ApiOperation({ summary: 'Whether a subject has live WebSocket sessions now, on any API process, and how many' })
  @ApiParam({ name: 'subject', example: 'user_123' })
  @ApiResponse({
    status: 200,
    schema: { type: 'object', properties: { subject: { type: 'string' }, online: { type: 'boolean' }, sessions: { type: 'integer' } } },
  })
  async presenceOf(@CurrentCaller() caller: Caller, @Param('subject') subject: string) {
    const valid = parse(subjectSchema, subject, 'subject');
    const sessions = await this.presence.sessionsOf(caller.organizationId, valid);
    return { subject: valid, online: sessions.length > 0, sessions: sessions.length };
  }

  @Get('stream-sessions')
  @Access('read')
  @ApiOperation({ summary: 'The live WebSocket sessions of a subject, on every API process, oldest first' })
  @ApiQuery({ name: 'subject', required: true, example: 'user_123' })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { data: { type: 'array', items: SESSION_SCHEMA } } } })
  async sessions(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { subject } = parse(z.object({ subject: subjectSchema }).strict(), query, 'query');
    return { data: await this.presence.sessionsOf(caller.organizationId, subject) };
  }

  @Get('stream-subjects/:subject')
  @Access('read')
  @ApiOperation({
    summary: "A subject's stream: the last seq given and the frames kept for replay",
    description: 'A device that reconnects with lastSeq at or after oldestKeptSeq − 1 gets every frame it missed; an older one gets resync_required first.',
  })
  @ApiParam({ name: 'subject', example: 'user_123' })
  @ApiResponse({
    status: 200,
    schema: {
      type: 'object',
      properties: {
        subject: { type: 'string' },
        latestSeq: { type: 'integer', description: '0 when nothing was pushed to the subject (or not for longer than the seq is kept)' },
        kept: { type: 'integer', description: 'Frames kept for replay' },
        oldestKeptSeq: { type: 'integer', nullable: true },
      },
    },
  })
  async stream(@CurrentCaller() caller: Caller, @Param('subject') subject: string) {
    const valid = parse(subjectSchema, subject, 'subject');
    return { subject: valid, ...(await this.streams.kept(caller.organizationId, valid)) };
  }
}
