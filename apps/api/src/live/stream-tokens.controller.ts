import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { Caller } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { parseBody } from '../http/errors';
import { jsonSchema } from '../http/openapi';
import { StreamTokens } from './stream-tokens';
import { subjectSchema } from './subject';

export const STREAM_TOKEN_TTL = { min: 60, max: 86_400, default: 3600 } as const;

const createStreamTokenSchema = z
  .object({
    /** The subject whose pushes the device receives, in the caller's organization. */
    subject: subjectSchema,
    ttlSeconds: z
      .number()
      .int('must be a whole number of seconds')
      .min(STREAM_TOKEN_TTL.min, `must be at least ${STREAM_TOKEN_TTL.min}`)
      .max(STREAM_TOKEN_TTL.max, `must be at most ${STREAM_TOKEN_TTL.max}`)
      .default(STREAM_TOKEN_TTL.default),
  })
  .strict();

@ApiTags('live')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/stream-tokens')
export class StreamTokensController {
  constructor(private readonly tokens: StreamTokens) {}

  @Post()
  @HttpCode(201)
  @Access('produce')
  @ApiOperation({
    summary:
      'A token for one subject of this organization, for a device to open a live WebSocket session with (GET /v1/stream?token=…); valid ttlSeconds (60 to 86400, default 3600). Nothing is stored: it is checked when the session opens',
  })
  @ApiBody({ schema: jsonSchema(createStreamTokenSchema) })
  @ApiResponse({
    status: 201,
    schema: {
      type: 'object',
      required: ['token', 'expiresAt'],
      properties: { token: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
    },
  })
  @ApiResponse({ status: 400, description: 'A subject outside the rule, or ttlSeconds not a whole number from 60 to 86400' })
  create(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    const { subject, ttlSeconds } = parseBody(createStreamTokenSchema, body);
    const { token, expiresAt } = this.tokens.mint({ organizationId: caller.organizationId, subject, ttlSeconds });
    return { token, expiresAt: expiresAt.toISOString() };
  }
}
