import { Controller, Get, Injectable, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditEntry, AuditRepository, Caller, Prisma } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { parse } from '../http/errors';
import { jsonSchema } from '../http/openapi';
import { limitSchema, page, seqCursorSchema } from '../http/pagination';

/** Records what operators do: every change they make through the API. */
@Injectable()
export class AuditTrail {
  constructor(private readonly audit: AuditRepository) {}

  record(caller: Caller, action: string, target: string, details: Prisma.InputJsonObject = {}): Promise<void> {
    return this.audit.record({ organizationId: caller.organizationId, actor: caller.apiKeyId, action, target, details });
  }
}

function auditView(entry: AuditEntry) {
  return { id: entry.id, at: entry.createdAt.toISOString(), actor: entry.actor, action: entry.action, target: entry.target, details: entry.details };
}

const listQuery = z.object({ cursor: seqCursorSchema, limit: limitSchema });

/** GET /v1/audit-log (auditView), for the OpenAPI description. */
const auditLogAnswerSchema = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      at: z.string().meta({ format: 'date-time' }),
      actor: z.string().describe('The id of the API key that acted'),
      action: z.string().describe('e.g. destination.update, deliveries.replay, api-key.revoke'),
      target: z.string().describe('The id of what it acted on'),
      details: z.record(z.string(), z.unknown()).nullable(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/audit-log')
export class AuditController {
  constructor(private readonly audit: AuditRepository) {}

  @Get()
  @Access('admin')
  @ApiOperation({ summary: 'Operator actions, newest first: who (API key id), what, on which object' })
  @ApiResponse({ status: 200, description: 'A page of entries; nextCursor (null on the last page) asks for the next', schema: jsonSchema(auditLogAnswerSchema) })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { cursor, limit } = parse(listQuery, query, 'query');
    const entries = await this.audit.list(caller.organizationId, limit, cursor);
    return page(entries, limit, auditView, (entry) => entry.seq.toString());
  }
}
