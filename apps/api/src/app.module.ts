import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FastifyAdapter } from '@bull-board/fastify';
import { BullBoardModule } from '@bull-board/nestjs';
import { ConfigModule, DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import {
  configureKinds,
  DownloadTokens,
  EgressGuard,
  createFileStore,
  FILE_STORE,
  FileStore,
  RecordedDownloadLinks,
  Senders,
  SubjectStreams,
} from '@dispatch/destinations';
import { DownloadLinkRepository } from '@dispatch/db';
import { DatabaseModule } from '@dispatch/db';
import { IngestModule } from '@dispatch/ingest';
import { QueueModule, REDIS, RedisConnection } from '@dispatch/queue';
import { TracingModule } from '@dispatch/telemetry';
import { ApiKeyAuthenticator } from './auth/api-key-authenticator';
import { ApiKeyGuard } from './auth/access';
import { ErrorShapeFilter } from './http/errors';
import { DestinationKindsController } from './destinations/destination-kinds.controller';
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
import { DestinationSecrets } from './destinations/destination-secrets';
import { DestinationHealthReader } from './destinations/destination-health';
import { EventsController } from './events/events.controller';
import { DeliveriesController } from './deliveries/deliveries.controller';
import { RetryDelivery } from './deliveries/retry-delivery';
import { ReplayDeliveries } from './deliveries/replay-deliveries';
import { CancelDeliveries } from './deliveries/cancel-deliveries';
import { ReplaysController } from './deliveries/replays.controller';
import { DeadLettersController } from './deliveries/dead-letters.controller';
import { AuditController, AuditTrail } from './audit/audit-trail';
import { AlertsController, AlertSettingsController } from './alerts/alerts.controller';
import { HealthController } from './operations/health.controller';
import { IngestRejectionsController } from './ingest/ingest-rejections.controller';
import { ApiKeysController } from './organizations/api-keys.controller';
import { OrganizationsController } from './organizations/organizations.controller';
import { CreateApiKey, CreateOrganization, RevokeApiKey } from './organizations/api-key-usecases';
import { Metrics, MetricsController } from './operations/metrics';
import { QueuesBoard } from './operations/queues-board';
import { QUEUES_ROUTE } from './operations/queues-route';
import { BoardRetries } from './operations/board-retries';
import { DeliveryMetricsController } from './metrics/delivery-metrics.controller';
import { FilesController } from './files/files.controller';
import { UploadFile } from './files/upload-file';
import { DeliveryDownloadsController, PublicDownloadsController } from './downloads/downloads.controller';
import { DownloadLinksReader } from './downloads/download-links.reader';
import { LiveController } from './live/live.controller';
import { LiveHub } from './live/live-hub';
import { Presence } from './live/presence';
import { StreamTokens } from './live/stream-tokens';
import { StreamTokensController } from './live/stream-tokens.controller';

@Module({})
export class AppModule {
  static forRoot(config: DispatchConfig) {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        QueueModule,
        IngestModule,
        TracingModule,
        // Who may open it is checked by `queuesGate`, a hook of the HTTP server (see app.ts).
        BullBoardModule.forRoot({ route: QUEUES_ROUTE, adapter: FastifyAdapter }),
      ],
      controllers: [
        DestinationsController,
        DestinationKindsController,
        EventsController,
        FilesController,
        PublicDownloadsController,
        DeliveryDownloadsController,
        DeliveriesController,
        ReplaysController,
        DeadLettersController,
        DeliveryMetricsController,
        AuditController,
        AlertsController,
        AlertSettingsController,
        IngestRejectionsController,
        ApiKeysController,
        OrganizationsController,
        HealthController,
        MetricsController,
        LiveController,
        StreamTokensController,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ErrorShapeFilter },
        {
          provide: EgressGuard,
          inject: [DISPATCH_CONFIG],
          useFactory: (c: DispatchConfig) => new EgressGuard(c.egressAllow),
        },
        { provide: FILE_STORE, inject: [DISPATCH_CONFIG], useFactory: (c: DispatchConfig) => createFileStore(c.files) },
        { provide: DownloadTokens, inject: [DISPATCH_CONFIG], useFactory: (c: DispatchConfig) => new DownloadTokens(c.encryption) },
        { provide: StreamTokens, inject: [DISPATCH_CONFIG], useFactory: (c: DispatchConfig) => new StreamTokens(c.encryption) },
        {
          provide: SubjectStreams,
          inject: [REDIS, DISPATCH_CONFIG],
          useFactory: (redis: RedisConnection, c: DispatchConfig) => new SubjectStreams(redis, c.queuePrefix, c.live),
        },
        {
          provide: Senders,
          inject: [DISPATCH_CONFIG, EgressGuard, FILE_STORE, DownloadLinkRepository, DownloadTokens, SubjectStreams],
          useFactory: (c: DispatchConfig, egress: EgressGuard, files: FileStore, links: DownloadLinkRepository, tokens: DownloadTokens, live: SubjectStreams) => {
            // Before any destination config is validated.
            configureKinds({ storage: c.storage });
            return new Senders({ ...c.attempts, egress, files, downloads: new RecordedDownloadLinks((link) => links.record(link), tokens, c.publicUrl), live });
          },
        },
        ApiKeyAuthenticator,
        ApiKeyGuard,
        Metrics,
        QueuesBoard,
        BoardRetries,
        DestinationFinder,
        DestinationSecrets,
        DestinationHealthReader,
        CreateDestination,
        UpdateDestination,
        DeleteDestination,
        ReopenDestination,
        PauseDestination,
        ResumeDestination,
        TestDestination,
        RotateSecret,
        RetryDelivery,
        ReplayDeliveries,
        CancelDeliveries,
        AuditTrail,
        CreateApiKey,
        RevokeApiKey,
        CreateOrganization,
        UploadFile,
        DownloadLinksReader,
        Presence,
        LiveHub,
      ],
    };
  }
}
