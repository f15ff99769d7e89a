import { MiddlewareConsumer, Module, NestModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import { ConfigModule, DispatchConfig } from '@dispatch/config';
import { DatabaseModule } from '@dispatch/db';
import { QueueModule } from '@dispatch/queue';
import type { NextFunction, Request, Response } from 'express';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator';
import { ApiKeyGuard } from './auth/access';
import { ErrorShapeFilter } from './http/errors';
import { DestinationsController } from './destinations/destinations.controller';
import {
  CreateDestination,
  DeleteDestination,
  DestinationFinder,
  PauseDestination,
  ReopenDestination,
  ResumeDestination,
  RotateSecret,
  TestDestination,
  UpdateDestination,
} from './destinations/destination-usecases';
import { EventsController } from './events/events.controller';
import { IngestEvent } from './events/ingest-event';
import { RoutingTable } from './events/routing-table';
import { DeliveriesController } from './deliveries/deliveries.controller';
import { RetryDelivery } from './deliveries/retry-delivery';
import { ReplayDeliveries } from './deliveries/replay-deliveries';
import { CancelDeliveries } from './deliveries/cancel-deliveries';
import { ReplaysController } from './deliveries/replays.controller';
import { AuditController, AuditTrail } from './audit/audit-trail';
import { HealthController } from './operations/health.controller';
import { Metrics, MetricsController } from './operations/metrics';
import { QueuesBoard, queuesGate } from './operations/queues-board';

@Module({
  providers: [ApiKeyAuthenticator],
  exports: [ApiKeyAuthenticator],
})
class AuthModule {}

@Module({})
export class AppModule implements NestModule {
  static forRoot(config: DispatchConfig) {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        QueueModule,
        AuthModule,
        BullBoardModule.forRootAsync({
          imports: [AuthModule],
          inject: [ApiKeyAuthenticator],
          useFactory: (authenticator: ApiKeyAuthenticator) => ({ route: '/queues', adapter: ExpressAdapter, middleware: queuesGate(authenticator) }),
        }),
      ],
      controllers: [DestinationsController, EventsController, DeliveriesController, ReplaysController, AuditController, HealthController, MetricsController],
      providers: [
        { provide: APP_FILTER, useClass: ErrorShapeFilter },
        ApiKeyGuard,
        Metrics,
        QueuesBoard,
        DestinationFinder,
        CreateDestination,
        UpdateDestination,
        DeleteDestination,
        ReopenDestination,
        PauseDestination,
        ResumeDestination,
        TestDestination,
        RotateSecret,
        IngestEvent,
        RoutingTable,
        RetryDelivery,
        ReplayDeliveries,
        CancelDeliveries,
        AuditTrail,
      ],
    };
  }

  constructor(private readonly metrics: Metrics) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply((request: Request, response: Response, next: NextFunction) => {
        const end = this.metrics.httpRequests.startTimer();
        response.on('finish', () => {
          const route = (request.route as { path?: string } | undefined)?.path ?? (request.baseUrl || 'other');
          end({ method: request.method, route, status: String(response.statusCode) });
        });
        next();
      })
      .forRoutes('*path');
  }
}
