import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { IngestRejectionRepository, OPERATOR_ORGANIZATION } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { parse } from '../http/errors';
import { limitSchema, page, seqCursorSchema } from '../http/pagination';

const listQuery = z.object({ cursor: seqCursorSchema, limit: limitSchema }).strict();

type Rejection = Awaited<ReturnType<IngestRejectionRepository['list']>>[number];

function rejectionView(rejection: Rejection) {
  return {
    id: rejection.id,
    organizationId: rejection.organizationId,
    stream: rejection.stream,
    subject: rejection.subject,
    streamSequence: Number(rejection.streamSeq),
    reason: rejection.reason,
    body: rejection.body,
    bodyBytes: rejection.bodyBytes,
    headers: rejection.headers,
    deliveries: rejection.deliveries,
    receivedAt: rejection.receivedAt.toISOString(),
    rejectedAt: rejection.rejectedAt.toISOString(),
  };
}

const REJECTION_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    organizationId: { type: 'string', nullable: true, description: 'The organization the subject names; null when no such organization exists' },
    stream: { type: 'string' },
    subject: { type: 'string' },
    streamSequence: { type: 'integer', description: "The message's sequence number in the stream" },
    reason: {
      type: 'string',
      description: 'Why it can never be ingested: bad JSON, unknown organization, invalid event (naming the field), or still failing at its last delivery',
    },
    body: { type: 'string', description: 'The start of the body (64 KiB at most) as text' },
    bodyBytes: { type: 'integer', description: 'The size of the whole body' },
    headers: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    deliveries: { type: 'integer', description: 'How many times the stream had delivered it' },
    receivedAt: { type: 'string', format: 'date-time', description: 'When the stream took it in' },
    rejectedAt: { type: 'string', format: 'date-time' },
  },
};

@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/ingest/rejected')
export class IngestRejectionsController {
  constructor(private readonly rejections: IngestRejectionRepository) {}

  @Get()
  @Access('admin')
  @ApiOperation({
    summary: 'Messages of the NATS ingest stream that could never be ingested, newest first, with the reason',
    description: `Terminated on the stream and kept here (see docs/nats-ingest.md). An admin key of the "${OPERATOR_ORGANIZATION}" organization sees every one, those of unknown organizations too; another admin key those whose subject names its organization. Pages with limit (default 50) and cursor (nextCursor of the previous page).`,
  })
  @ApiQuery({ name: 'limit', required: false, description: '1–200, default 50' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiResponse({
    status: 200,
    schema: { type: 'object', properties: { data: { type: 'array', items: REJECTION_SCHEMA }, nextCursor: { type: 'string', nullable: true } } },
  })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { cursor, limit } = parse(listQuery, query, 'query');
    const scope = caller.organizationName === OPERATOR_ORGANIZATION ? 'all' : { organizationId: caller.organizationId };
    const found = await this.rejections.list(scope, limit, cursor);
    return page(found, limit, rejectionView, (rejection) => rejection.seq.toString());
  }
}
