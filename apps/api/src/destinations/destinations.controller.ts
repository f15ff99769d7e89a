import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { describeKind, destinationKinds } from '@dispatch/destinations';
import { signingSecretProblem } from '@dispatch/domain';
import type { Caller } from '@dispatch/db';
import { DestinationRepository, Prisma } from '@dispatch/db';
import { RoutingTable } from '@dispatch/ingest';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { AuditTrail } from '../audit/audit-trail';
import { QueuesBoard } from '../operations/queues-board';
import { parse, parseBody } from '../http/errors';
import { limitSchema, page } from '../http/pagination';
import { jsonSchema, withKindConfigs } from '../http/openapi';
import { createDestinationSchema, updateDestinationSchema } from './destination.schemas';
import { destinationView } from './destination.view';
import { DestinationHealthReader } from './destination-health';
import {
  CreateDestination,
  DeleteDestination,
  DestinationFinder,
  PauseDestination,
  ResumeDestination,
  RotateSecret,
  TestDestination,
  TestRateLimited,
  UpdateDestination,
} from './destination-usecases';

const listQuery = z.object({ limit: limitSchema, cursor: z.string().max(100).optional() });

const rotateSecretSchema = z
  .object({
    /** How long the old secret keeps signing too; 0 retires it at once. Default one day. */
    previousValidForSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(24 * 3600),
    secret: z
      .string()
      .optional()
      .superRefine((secret, ctx) => {
        const problem = secret === undefined ? null : signingSecretProblem(secret);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
  })
  .strict();

@ApiTags('destinations')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/destinations')
export class DestinationsController {
  constructor(
    private readonly destinations: DestinationRepository,
    private readonly finder: DestinationFinder,
    private readonly createDestination: CreateDestination,
    private readonly updateDestination: UpdateDestination,
    private readonly deleteDestination: DeleteDestination,
    private readonly pauseDestination: PauseDestination,
    private readonly resumeDestination: ResumeDestination,
    private readonly testDestination: TestDestination,
    private readonly rotateSecret: RotateSecret,
    private readonly audit: AuditTrail,
    private readonly board: QueuesBoard,
    private readonly routing: RoutingTable,
    private readonly health: DestinationHealthReader,
  ) {}

  @Post()
  @Access('admin')
  @ApiOperation({
    summary: 'Create a destination; a webhook gets a whsec_ secret, returned once',
    description:
      'A config host written as an address that is not public unicast (loopback, private, link-local, …) is a 400 naming the field (config.url); DISPATCH_EGRESS_ALLOW allows ranges. Names are checked at each connection. ' +
      'Credentials (the kind\'s secretFields; a webhook\'s authorization, proxy-authorization, cookie and x-api-key headers and those named in config.secretHeaders) are stored encrypted and shown as "********" in every answer, this one too.',
  })
  @ApiBody({ schema: withKindConfigs(jsonSchema(createDestinationSchema), destinationKinds.map(describeKind)) })
  async create(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    const input = parseBody(createDestinationSchema, body);
    const { destination, secret } = await this.createDestination.execute(caller.organizationId, input);
    await this.recordChange(caller, 'create', destination.id, { name: destination.name });
    this.board.show(destination);
    return { ...destinationView(destination), ...(secret ? { secret } : {}) };
  }

  @Get()
  @Access('read')
  @ApiOperation({ summary: 'List destinations (credentials in config shown as "********"), each with health: { status, circuit }' })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const { limit, cursor } = parse(listQuery, query, 'query');
    const found = await this.destinations.list(caller.organizationId, limit, cursor);
    const health = await this.health.summaries(caller.organizationId, found);
    return page(
      found,
      limit,
      (destination) => destinationView(destination, health.get(destination.id)),
      (destination) => destination.id,
    );
  }

  @Get(':id')
  @Access('read')
  @ApiOperation({ summary: 'A destination (credentials in config shown as "********"), with health: { status, circuit }' })
  async get(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const destination = await this.finder.get(caller.organizationId, id);
    const health = await this.health.summaries(caller.organizationId, [destination]);
    return destinationView(destination, health.get(destination.id));
  }

  @Get(':id/health')
  @Access('read')
  @ApiOperation({
    summary: 'Health of a destination: status, circuit, failures, response times, backlog',
    description:
      'status: disabled when the destination is disabled; unhealthy when its circuit is open or half-open, or after 3 or more consecutive failed attempts; ' +
      "degraded after 1 or 2, or when the average response time of the last 15 minutes (recentAverageResponseMs) is above the organization's responseTimeMs alert setting (default 30000); else healthy. " +
      'A 429 or an answer with Retry-After is no failure. totalDeliveries counts attempts made; averageResponseMs is the average duration of all of them; backlog counts open deliveries (pending, delivering, retrying).',
  })
  async healthOf(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    return this.health.detail(await this.finder.get(caller.organizationId, id));
  }

  @Patch(':id')
  @Access('admin')
  @ApiOperation({
    summary: 'Change a destination; config is replaced whole',
    description:
      'A credential sent back as "********" keeps its stored value (400 when none is stored); one left out is removed. The signing secret stays unless config.secret gives a new one ("********" keeps it too).',
  })
  @ApiBody({ schema: withKindConfigs(jsonSchema(updateDestinationSchema), destinationKinds.map(describeKind)) })
  async update(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    const input = parseBody(updateDestinationSchema, body);
    const destination = await this.updateDestination.execute(caller.organizationId, id, input);
    await this.recordChange(caller, 'update', id, { fields: Object.keys(input) });
    this.board.show(destination);
    return destinationView(destination);
  }

  @Delete(':id')
  @Access('admin')
  @HttpCode(204)
  async remove(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<void> {
    await this.deleteDestination.execute(caller.organizationId, id);
    await this.recordChange(caller, 'delete', id);
    this.board.hide(id);
  }

  @Post(':id/test')
  @Access('admin')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Send a signed dispatch.test event now and report the answer',
    description:
      'Connects through the egress guard like every attempt: an address it refuses answers ok: false with the error. ' +
      "The test counts against the destination's rateLimit, shared with its deliveries: when the limit is used up it answers 429 with Retry-After and sends nothing.",
  })
  @ApiResponse({ status: 429, description: "The destination's rate limit is used up; Retry-After says when a test fits. Nothing was sent." })
  async test(@CurrentCaller() caller: Caller, @Param('id') id: string, @Res({ passthrough: true }) reply: FastifyReply) {
    try {
      return await this.testDestination.execute(caller.organizationId, id);
    } catch (error) {
      if (error instanceof TestRateLimited) reply.header('retry-after', String(error.retryAfterSeconds));
      throw error;
    }
  }

  @Post(':id/rotate-secret')
  @Access('admin')
  @HttpCode(200)
  @ApiOperation({ summary: 'New signing secret; the previous one keeps signing too until previousValidUntil' })
  @ApiBody({ schema: jsonSchema(rotateSecretSchema), required: false })
  async rotate(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    const input = parseBody(rotateSecretSchema, body ?? {});
    const rotated = await this.rotateSecret.execute(caller.organizationId, id, input.previousValidForSeconds, input.secret);
    await this.recordChange(caller, 'rotate-secret', id, { previousValidUntil: rotated.previousValidUntil });
    return rotated;
  }

  @Post(':id/pause')
  @Access('admin')
  @HttpCode(200)
  async pause(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const destination = await this.pauseDestination.execute(caller.organizationId, id);
    await this.recordChange(caller, 'pause', id);
    return destinationView(destination);
  }

  @Post(':id/resume')
  @Access('admin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resume a paused destination (or re-enable a disabled one) and send what it held' })
  async resume(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const destination = await this.resumeDestination.execute(caller.organizationId, id);
    await this.recordChange(caller, 'resume', id);
    return destinationView(destination);
  }

  /** After a destination changed: routing sees it at once, and the change is in the audit trail. */
  private async recordChange(caller: Caller, action: string, id: string, details?: Prisma.InputJsonObject): Promise<void> {
    this.routing.changed(caller.organizationId, id);
    await this.audit.record(caller, `destination.${action}`, id, details);
  }
}
