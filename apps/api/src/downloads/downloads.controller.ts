import { Controller, Get, GoneException, Headers, HttpException, Inject, NotFoundException, Param, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeController, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DeliveryRepository, DownloadLinkRepository } from '@dispatch/db';
import type { Caller } from '@dispatch/db';
import { DownloadTokens, FILE_STORE, FileMissingError, FileStore } from '@dispatch/destinations';
import { Access, ApiKeyGuard, CurrentCaller } from '../auth/access';
import { byteRange } from './byte-range';

/** The most downloads `GET /v1/deliveries/:id/downloads` lists. */
const LISTED = 1_000;

/**
 * `GET /d/<token>`: the file of a download link, without an API key (the token is the
 * credential). A token this deployment did not sign is a 404; a link that expired, whose file
 * was removed or that served its `maxDownloads` is a 410. Each download is counted before it is
 * served, in one statement, so concurrent ones never pass `maxDownloads`; a `Range` request is
 * one download too, a HEAD request none.
 */
@ApiExcludeController()
@Controller('d')
export class PublicDownloadsController {
  constructor(
    private readonly links: DownloadLinkRepository,
    private readonly tokens: DownloadTokens,
    @Inject(FILE_STORE) private readonly files: FileStore,
  ) {}

  @Get(':token')
  async download(@Param('token') token: string, @Headers('range') range: string | undefined, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    const linkId = this.tokens.linkOf(token);
    if (linkId === null) throw new NotFoundException('No such download link');
    const link = await this.links.find(linkId);
    if (!link || link.fileRemovedAt !== null || link.expiresAt.getTime() <= Date.now()) throw new GoneException('This download link has expired');
    const wanted = byteRange(range, link.size);
    if (wanted === null) {
      reply.header('content-range', `bytes */${link.size}`);
      throw new HttpException({ statusCode: 416, error: 'Range Not Satisfiable', message: `The file has ${link.size} bytes; ask for one range within them` }, 416);
    }
    // A HEAD request (what a client asks before downloading) is neither counted nor logged.
    const head = request.method === 'HEAD';
    if (!head && !(await this.links.countDownload(link.id, new Date(), request.ip, request.headers['user-agent'] ?? null))) {
      throw new GoneException('This download link has expired or served all its downloads');
    }
    reply
      .header('content-type', link.contentType)
      .header('content-disposition', contentDisposition(link.name))
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'private, no-store');
    if (wanted) {
      reply
        .status(206)
        .header('content-range', `bytes ${wanted.start}-${wanted.end}/${link.size}`)
        .header('content-length', wanted.end - wanted.start + 1);
    } else {
      reply.status(200).header('content-length', link.size);
    }
    try {
      return reply.send(await this.files.open(link.fileId, wanted));
    } catch (error) {
      if (error instanceof FileMissingError) throw new GoneException('This download link has expired');
      throw error;
    }
  }
}

@ApiTags('deliveries')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1/deliveries')
export class DeliveryDownloadsController {
  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly links: DownloadLinkRepository,
  ) {}

  @Get(':id/downloads')
  @Access('read')
  @ApiOperation({ summary: "The downloads served from a download delivery's link, oldest first: when, client address and user agent" })
  async list(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const delivery = await this.deliveries.find(caller.organizationId, id);
    if (!delivery) throw new NotFoundException(`Delivery ${id} not found`);
    const downloads = await this.links.downloadsOf(caller.organizationId, id, LISTED);
    return { data: downloads.map((download) => ({ at: download.at.toISOString(), ip: download.ip, userAgent: download.userAgent })) };
  }
}

/** `attachment` with the file name, as ASCII (others replaced) and as UTF-8 (RFC 6266). */
function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
