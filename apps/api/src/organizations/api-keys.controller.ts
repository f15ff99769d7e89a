import { Body, Controller, Delete, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { ApiKeyRecord, Caller } from '@dispatch/db';
import { OrganizationRepository } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { AuditTrail } from '../audit/audit-trail';
import { parseBody } from '../http/errors';
import { jsonSchema } from '../http/openapi';
import { CreateApiKey, RevokeApiKey } from './api-key-usecases';
import { createApiKeySchema } from './organization.schemas';

const role = z.enum(['admin', 'producer', 'viewer']);
const time = z.string().meta({ format: 'date-time' });

/** An API key as apiKeyView shows it, for the OpenAPI description. */
const apiKeyAnswerSchema = z.object({
  id: z.string(),
  name: z.string(),
  role,
  createdAt: time,
  lastUsedAt: time.nullable().describe('Precise to a minute'),
  revokedAt: time.nullable(),
});

/** An API key as the API shows it: never the key, never its hash. */
function apiKeyView(key: ApiKeyRecord) {
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

@ApiTags('api keys')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(
    private readonly organizations: OrganizationRepository,
    private readonly createApiKey: CreateApiKey,
    private readonly revokeApiKey: RevokeApiKey,
    private readonly audit: AuditTrail,
  ) {}

  @Post()
  @Access('admin')
  @ApiOperation({ summary: 'Create an API key of this organization; the key (dsp_…) is in this answer only' })
  @ApiBody({ schema: jsonSchema(createApiKeySchema) })
  @ApiResponse({
    status: 201,
    description: 'The key, in this answer only',
    schema: jsonSchema(z.object({ id: z.string(), name: z.string(), role, key: z.string(), createdAt: time })),
  })
  async create(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    const input = parseBody(createApiKeySchema, body);
    const { record, key } = await this.createApiKey.execute(caller.organizationId, input);
    await this.audit.record(caller, 'api-key.create', record.id, { name: record.name, role: record.role });
    return { id: record.id, name: record.name, role: record.role, key, createdAt: record.createdAt.toISOString() };
  }

  @Get()
  @Access('admin')
  @ApiOperation({ summary: "This organization's API keys, revoked ones included, oldest first; lastUsedAt is precise to a minute" })
  @ApiResponse({ status: 200, schema: jsonSchema(z.object({ data: z.array(apiKeyAnswerSchema) })) })
  async list(@CurrentCaller() caller: Caller) {
    return { data: (await this.organizations.listApiKeys(caller.organizationId)).map(apiKeyView) };
  }

  @Delete(':id')
  @Access('admin')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key: every API process refuses it (401) from now on; revoking a revoked key changes nothing' })
  @ApiResponse({ status: 409, description: 'It is the last admin key of the organization that is not revoked' })
  async revoke(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<void> {
    if (await this.revokeApiKey.execute(caller.organizationId, id)) await this.audit.record(caller, 'api-key.revoke', id);
  }
}
