import { ForbiddenException, HttpException, Inject, Injectable, OnModuleDestroy, OnModuleInit, UnauthorizedException } from '@nestjs/common';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { InjectBullBoard } from '@bull-board/nestjs';
import type { BullBoardInstance } from '@bull-board/nestjs';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { Caller, Destination, OPERATOR_ORGANIZATION, PrismaClient } from '@dispatch/db';
import { DeliveryQueues, MAINTENANCE_QUEUE } from '@dispatch/queue';
import { Queue } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callerOf } from '../auth/access';
import type { ApiKeyAuthenticator } from '../auth/api-key-authenticator';
import { answerBeforeBody } from '../http/early-answer';
import { BoardRetries } from './board-retries';
import { isQueuesRoute, QUEUES_ROUTE } from './queues-route';

/** Bull Board's routes that retry: one job, and every job of a queue in a status. */
const RETRY_JOB = `PUT ${QUEUES_ROUTE}/api/queues/:queueName/:jobId/retry`;
const RETRY_ALL = `PUT ${QUEUES_ROUTE}/api/queues/:queueName/retry/:queueStatus`;

/**
 * Lets into Bull Board (every route under `/queues`) only admin keys of the operator's
 * organization: `Authorization: Bearer <key>`, or HTTP Basic with the key as password so a
 * browser can sign in. The board only reads: a request that would change something (any
 * method but GET and HEAD) is refused 403, but for its retries when
 * `DISPATCH_QUEUES_ALLOW_RETRIES` allows them, which `BoardRetries` answers here, before Bull
 * Board's own handler could. A change sent from a page of another site is refused 403 too.
 * A hook on every request of the HTTP server.
 */
export function queuesGate(authenticator: ApiKeyAuthenticator, retries: BoardRetries) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!isQueuesRoute(request.routeOptions.url)) return;
    // Bearer, or HTTP Basic with the key as password; looked up once per request (the rate limit asked first).
    const caller = await callerOf(request, authenticator);
    if (!caller || caller.role !== 'admin' || caller.organizationName !== OPERATOR_ORGANIZATION) {
      reply.header('WWW-Authenticate', 'Basic realm="Dispatch queues", charset="UTF-8"');
      return answer(
        request,
        reply,
        new UnauthorizedException(`The queues need an admin API key of the "${OPERATOR_ORGANIZATION}" organization (as the password of HTTP Basic auth)`),
      );
    }
    if (request.method === 'GET' || request.method === 'HEAD') return;
    const foreign = foreignOrigin(request);
    if (foreign) return answer(request, reply, new ForbiddenException(`Changes to the queues are accepted only from this server's own pages (${foreign})`));
    try {
      const retry = retries.allowed ? await boardRetry(request, caller, retries) : undefined;
      if (retry) return await reply.status(retry.status).send(retry.body);
    } catch (error) {
      if (error instanceof HttpException) return answer(request, reply, error);
      throw error;
    }
    return answer(
      request,
      reply,
      new ForbiddenException(
        retries.allowed
          ? 'Bull Board only reads and retries here; change deliveries and destinations through the API or the admin app'
          : 'Bull Board only reads here (DISPATCH_QUEUES_ALLOW_RETRIES lets it retry); change deliveries and destinations through the API or the admin app',
      ),
    );
  };
}

/** Answers one of Bull Board's retry routes through `BoardRetries`; undefined for any other route. */
async function boardRetry(request: FastifyRequest, operator: Caller, retries: BoardRetries): Promise<{ status: number; body: object } | undefined> {
  const route = `${request.method} ${request.routeOptions.url}`;
  const params = request.params as Record<string, string>;
  if (route === RETRY_JOB) {
    await retries.retryJob(operator, params.queueName, params.jobId);
    return { status: 204, body: {} };
  }
  if (route === RETRY_ALL) return { status: 200, body: await retries.retryAll(operator, params.queueName, params.queueStatus) };
  return undefined;
}

/**
 * Why a request comes from a page that is not this server's, or undefined when it does not:
 * the browser says so (`Sec-Fetch-Site: cross-site` or `same-site`), or its `Origin` names
 * another host than the one it was sent to (`Host`). A client that sends neither (curl, a
 * script) is no browser carrying an operator's credentials for another site.
 */
function foreignOrigin(request: FastifyRequest): string | undefined {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return `Sec-Fetch-Site: ${site}`;
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  return host !== undefined && host === request.headers.host ? undefined : `Origin ${origin} is not ${request.headers.host ?? 'this host'}`;
}

/** Answers with `exception` in the API's error shape, before Bull Board reads any body. */
async function answer(request: FastifyRequest, reply: FastifyReply, exception: HttpException): Promise<void> {
  const { error, message } = exception.getResponse() as { error: string; message: string };
  await answerBeforeBody(request, reply, exception.getStatus(), error, message);
}

/**
 * An `onSend` hook: Bull Board's page without the stylesheet it loads from Google Fonts, so an
 * operator's browser fetches nothing from another site (the Content-Security-Policy would
 * refuse it anyway); the board falls back to the browser's own fonts.
 */
export async function boardPageWithoutThirdParties(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const route = request.routeOptions.url;
  if (typeof payload !== 'string' || !isQueuesRoute(route)) return payload;
  if (!String(reply.getHeader('content-type') ?? '').startsWith('text/html')) return payload;
  return payload.replace(/<link [^>]*href="https:\/\/fonts\.googleapis\.com\/[^>]*>/g, '');
}

/** How often the board is brought in step with the database (changes made through another API process). */
const SYNC_MS = 30_000;

type Listed = Pick<Destination, 'id' | 'name'>;

/**
 * Keeps Bull Board listing one queue per destination, named after it, and the maintenance
 * queue. Every queue is read-only; with `DISPATCH_QUEUES_ALLOW_RETRIES` a destination's queue
 * shows retry buttons (Bull Board then shows its other buttons too, which `queuesGate` refuses).
 * A destination created, renamed or deleted through this process is listed or unlisted at once,
 * at a cost that does not grow with the number of destinations; the whole listing is compared
 * with the database every 30 s, for changes made through another API process.
 */
@Injectable()
export class QueuesBoard implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  /** The queue of each listed destination on the board, by id. */
  private readonly listed = new Map<string, BullMQAdapter>();
  /** Destinations changed through this process while a sync reads the database: its listing of them may be older. */
  private readonly changedDuringSync = new Set<string>();
  private syncing = false;
  private readonly maintenanceQueue: Queue;

  constructor(
    @InjectBullBoard() private readonly board: BullBoardInstance,
    private readonly prisma: PrismaClient,
    private readonly queues: DeliveryQueues,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {
    this.maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection: queues.connection, prefix: queues.prefix });
    this.maintenanceQueue.on('error', () => undefined);
  }

  async onModuleInit(): Promise<void> {
    this.board.replaceQueues([new BullMQAdapter(this.maintenanceQueue, { displayName: 'maintenance (reconciler)', readOnlyMode: true })]);
    await this.sync();
    this.timer = setInterval(() => void this.sync().catch(() => undefined), SYNC_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.maintenanceQueue.close();
  }

  /** A destination was created or changed through this process: its queue is listed under its current name. */
  show(destination: Listed): void {
    if (this.syncing) this.changedDuringSync.add(destination.id);
    this.list(destination);
  }

  /** A destination was deleted through this process: its queue leaves the board. */
  hide(destinationId: string): void {
    if (this.syncing) this.changedDuringSync.add(destinationId);
    this.unlist(destinationId);
  }

  /** Lists every destination in the database and no other, each under its current name. */
  async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const destinations = await this.prisma.destination.findMany({ select: { id: true, name: true }, orderBy: { createdAt: 'asc' } });
      const stored = new Set(destinations.map((destination) => destination.id));
      for (const id of [...this.listed.keys()]) if (!stored.has(id) && !this.changedDuringSync.has(id)) this.unlist(id);
      for (const destination of destinations) if (!this.changedDuringSync.has(destination.id)) this.list(destination);
    } finally {
      this.changedDuringSync.clear();
      this.syncing = false;
    }
  }

  private list(destination: Listed): void {
    const displayName = `${destination.name} (${destination.id})`;
    if (this.listed.get(destination.id)?.getDisplayName() === displayName) return;
    const { allowRetries } = this.config.queues;
    const adapter = new BullMQAdapter(this.queues.queue(destination.id), { displayName, readOnlyMode: !allowRetries, allowRetries });
    this.listed.set(destination.id, adapter);
    this.board.addQueue(adapter);
  }

  private unlist(destinationId: string): void {
    const adapter = this.listed.get(destinationId);
    if (!adapter) return;
    this.listed.delete(destinationId);
    this.board.removeQueue(adapter);
  }
}
