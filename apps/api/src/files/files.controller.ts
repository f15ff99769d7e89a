import { Controller, Headers, HttpCode, Post, Req, Res, UseGuards } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '@dispatch/db';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { badRequest } from '../http/errors';
import { FILE_BODY } from '../http/file-body';
import { UploadFile } from './upload-file';

@ApiTags('files')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/files')
export class FilesController {
  constructor(private readonly uploadFile: UploadFile) {}

  @Post()
  @RouteConfig(FILE_BODY)
  @HttpCode(201)
  @Access('produce')
  @ApiOperation({
    summary:
      'Upload a file (the raw body, application/octet-stream) for events to deliver by naming it as data.fileId: 201 { id, size, sha256 }; larger than DISPATCH_FILES_MAX_BYTES: 413',
  })
  @ApiConsumes('application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  async upload(
    @CurrentCaller() caller: Caller,
    @Req() request: FastifyRequest,
    @Headers('content-length') contentLength: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (!(request.body instanceof Readable)) {
      throw badRequest([{ path: '', message: 'send the file as the raw body, with content-type: application/octet-stream' }]);
    }
    const declared = contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : undefined;
    try {
      const file = await this.uploadFile.execute(caller.organizationId, request.body, declared);
      return { id: file.id, size: file.size, sha256: file.sha256, createdAt: file.createdAt.toISOString() };
    } catch (error) {
      // The rest of a refused body is not read: the connection cannot serve another request.
      reply.header('connection', 'close');
      throw error;
    }
  }
}
