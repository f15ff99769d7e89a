import { Body, Controller, Get, Post, UseGuards } from '@nestjs/common';
import { z } from 'zod';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Caller } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { AuditTrail } from '../audit/audit-trail';
import { parseBody } from '../http/errors';
import { jsonSchema } from '../http/openapi';
import { CreateOrganization } from './api-key-usecases';
import { createOrganizationSchema } from './organization.schemas';

@ApiTags('organizations')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class OrganizationsController {
  constructor(
    private readonly createOrganization: CreateOrganization,
    private readonly audit: AuditTrail,
  ) {}

  @Post('organizations')
  @Access('admin')
  @ApiOperation({ summary: 'Create an organization with an admin key (adminKey, in this answer only); admin keys of the default organization only' })
  @ApiBody({ schema: jsonSchema(createOrganizationSchema) })
  @ApiResponse({ status: 409, description: 'An organization of that name exists' })
  async create(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    CreateOrganization.assertAllowed(caller);
    const { name } = parseBody(createOrganizationSchema, body);
    const created = await this.createOrganization.execute(name);
    await this.audit.record(caller, 'organization.create', created.id, { name: created.name });
    return created;
  }

  @Get('organization')
  @Access('read')
  @ApiOperation({ summary: "The caller's organization, and the role of the key that asked (so an app can offer only what that role may do)" })
  @ApiResponse({ status: 200, schema: jsonSchema(z.object({ id: z.string(), name: z.string(), role: z.enum(['admin', 'producer', 'viewer']) })) })
  current(@CurrentCaller() caller: Caller) {
    return { id: caller.organizationId, name: caller.organizationName, role: caller.role };
  }
}
