import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AlertRepository, alertView, Prisma } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import { alertSettingsSchema } from '@dispatch/domain';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { AuditTrail } from '../audit/audit-trail';
import { parse, parseBody } from '../http/errors';
import { jsonSchema } from '../http/openapi';
import { idCursorSchema, limitSchema, page } from '../http/pagination';

const listQuery = z
  .object({
    status: z.enum(['open', 'resolved'], { message: 'must be open or resolved' }).optional(),
    destinationId: z.string().min(1).max(100).optional(),
    limit: limitSchema,
    cursor: idCursorSchema,
  })
  .strict();

const ALERT_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    condition: { type: 'string', enum: ['failure_rate', 'consecutive_failures', 'backlog', 'response_time', 'circuit_open'] },
    destinationId: { type: 'string' },
    status: { type: 'string', enum: ['open', 'resolved'] },
    openedAt: { type: 'string', format: 'date-time' },
    resolvedAt: { type: 'string', format: 'date-time', nullable: true },
    escalationLevel: { type: 'integer', description: '0 when opened; n once escalateAfterMs[n-1] passed while open and not acknowledged' },
    escalatedAt: { type: 'string', format: 'date-time', nullable: true },
    value: { type: 'number', description: 'What was last seen: a failure rate (0–1), a count, milliseconds, or 1 for an open circuit' },
    threshold: { type: 'number' },
    message: { type: 'string' },
    acknowledgedAt: { type: 'string', format: 'date-time', nullable: true },
    acknowledgedBy: { type: 'string', nullable: true, description: 'The id of the API key that acknowledged it' },
  },
};

@ApiTags('alerts')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/alerts')
export class AlertsController {
  constructor(
    private readonly alerts: AlertRepository,
    private readonly audit: AuditTrail,
  ) {}

  @Get()
  @Access('read')
  @ApiOperation({
    summary: "The organization's alerts, newest first; filter by status (open, resolved) and destinationId",
    description: 'See docs/alerts.md for the conditions, debouncing and escalation. Pages with limit (default 50) and cursor (nextCursor of the previous page).',
  })
  @ApiQuery({ name: 'status', required: false, enum: ['open', 'resolved'] })
  @ApiQuery({ name: 'destinationId', required: false, description: "Only this destination's alerts" })
  @ApiQuery({ name: 'limit', required: false, description: '1–200, default 50' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  @ApiResponse({ status: 200, schema: { type: 'object', properties: { data: { type: 'array', items: ALERT_SCHEMA }, nextCursor: { type: 'string', nullable: true } } } })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { status, destinationId, limit, cursor } = parse(listQuery, query, 'query');
    const found = await this.alerts.list(caller.organizationId, { status, destinationId, beforeId: cursor }, limit);
    return page(found, limit, alertView, (alert) => alert.id);
  }

  @Post(':id/acknowledge')
  @Access('admin')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Acknowledge an alert: someone is on it, so it escalates no further',
    description:
      'Sets acknowledgedAt and acknowledgedBy (the API key) once; acknowledging again changes nothing. The alert still resolves by itself when its condition no longer holds.',
  })
  @ApiResponse({ status: 200, schema: ALERT_SCHEMA })
  async acknowledge(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const before = await this.alerts.find(caller.organizationId, id);
    if (!before) throw new NotFoundException(`Alert ${id} not found`);
    const alert = await this.alerts.acknowledge(caller.organizationId, id, caller.apiKeyId, new Date());
    if (!alert) throw new NotFoundException(`Alert ${id} not found`);
    if (!before.acknowledgedAt) await this.audit.record(caller, 'alert.acknowledge', id, { condition: alert.condition, destinationId: alert.destinationId });
    return alertView(alert);
  }
}

@ApiTags('alerts')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/alert-settings')
export class AlertSettingsController {
  constructor(
    private readonly alerts: AlertRepository,
    private readonly audit: AuditTrail,
  ) {}

  @Get()
  @Access('read')
  @ApiOperation({ summary: "The organization's alert settings (the defaults until changed)" })
  @ApiResponse({ status: 200, schema: jsonSchema(alertSettingsSchema) })
  async get(@CurrentCaller() caller: Caller) {
    return this.alerts.settings(caller.organizationId);
  }

  @Put()
  @Access('admin')
  @ApiOperation({
    summary: "Replace the organization's alert settings; a field left out takes its default, a condition set to null is off",
    description:
      'failureRate.threshold 0–1 over failureRate.windowMs (also the window of response times and consecutive failures); consecutiveFailures, backlog, responseTimeMs; ' +
      'cooldownMs after a resolution before the same condition of the same destination opens again; escalateAfterMs: increasing times after opening for escalation levels 1, 2, 3….',
  })
  @ApiBody({ schema: jsonSchema(alertSettingsSchema) })
  @ApiResponse({ status: 200, schema: jsonSchema(alertSettingsSchema) })
  async put(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    const settings = parseBody(alertSettingsSchema, body);
    await this.alerts.putSettings(caller.organizationId, settings);
    await this.audit.record(caller, 'alert-settings.update', caller.organizationId, settings as unknown as Prisma.InputJsonObject);
    return settings;
  }
}
