import { Controller, Get, Injectable, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditEntry, AuditRepository, Caller, Prisma } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { parse } from '../http/errors';
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

@ApiTags('operations')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/audit-log')
export class AuditController {
  constructor(private readonly audit: AuditRepository) {}

  @Get()
  @Access('admin')
  @ApiOperation({ summary: 'Operator actions, newest first: who (API key id), what, on which object' })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { cursor, limit } = parse(listQuery, query, 'query');
    const entries = await this.audit.list(caller.organizationId, limit, cursor);
    return page(entries, limit, auditView, (entry) => entry.seq.toString());
  }
}
