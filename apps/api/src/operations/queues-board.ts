import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { InjectBullBoard } from '@bull-board/nestjs';
import type { BullBoardInstance } from '@bull-board/nestjs';
import { OPERATOR_ORGANIZATION, PrismaClient } from '@dispatch/db';
import { DeliveryQueues, MAINTENANCE_QUEUE } from '@dispatch/queue';
import { Queue } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyAuthenticator } from '../auth/api-key-authenticator';

const SYNC_MS = 5_000;

/** Where Bull Board is served. */
export const QUEUES_ROUTE = '/queues';

/**
 * Lets into Bull Board (every route under `/queues`) only admin keys of the operator's
 * organization: `Authorization: Bearer <key>`, or HTTP Basic with the key as password so a
 * browser can sign in. A hook on every request of the HTTP server.
 */
export function queuesGate(authenticator: ApiKeyAuthenticator) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // The route the router matched, not the raw URL (which may be percent-encoded).
    const route = request.routeOptions.url;
    if (route === undefined || (route !== QUEUES_ROUTE && !route.startsWith(`${QUEUES_ROUTE}/`))) return;
    const key = ApiKeyAuthenticator.keyFrom(request.headers.authorization);
    const caller = key ? await authenticator.authenticate(key) : null;
    if (caller && caller.role === 'admin' && caller.organizationName === OPERATOR_ORGANIZATION) return;
    await reply
      .status(401)
      .header('WWW-Authenticate', 'Basic realm="Dispatch queues", charset="UTF-8"')
      .send({
        statusCode: 401,
        error: 'Unauthorized',
        message: `The queues need an admin API key of the "${OPERATOR_ORGANIZATION}" organization (as the password of HTTP Basic auth)`,
      });
  };
}

/** Keeps Bull Board listing one queue per destination, named after it, and the maintenance queue. */
@Injectable()
export class QueuesBoard implements OnModuleInit, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  private listed = '';
  private readonly maintenanceQueue: Queue;
  private readonly maintenance: BullMQAdapter;

  constructor(
    @InjectBullBoard() private readonly board: BullBoardInstance,
    private readonly prisma: PrismaClient,
    private readonly queues: DeliveryQueues,
  ) {
    this.maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection: queues.connection, prefix: queues.prefix });
    this.maintenanceQueue.on('error', () => undefined);
    this.maintenance = new BullMQAdapter(this.maintenanceQueue, { displayName: 'maintenance (reconciler)', readOnlyMode: true });
  }

  async onModuleInit(): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => void this.sync().catch(() => undefined), SYNC_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.maintenanceQueue.close();
  }

  async sync(): Promise<void> {
    const destinations = await this.prisma.destination.findMany({ select: { id: true, name: true }, orderBy: { createdAt: 'asc' } });
    const listed = JSON.stringify(destinations);
    if (listed === this.listed) return;
    this.listed = listed;
    this.board.replaceQueues([
      ...destinations.map(
        (destination) => new BullMQAdapter(this.queues.queue(destination.id), { displayName: `${destination.name} (${destination.id})`, allowRetries: true }),
      ),
      this.maintenance,
    ]);
  }
}
