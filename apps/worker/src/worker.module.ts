import { DynamicModule, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { ConfigModule, DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { DatabaseModule, DownloadLinkRepository } from '@dispatch/db';
import { IngestModule } from '@dispatch/ingest';
import { MAINTENANCE_QUEUE, QueueModule, REDIS, RedisConnection } from '@dispatch/queue';
import { TracingModule } from '@dispatch/telemetry';
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
import { EvaluateAlerts } from './alerts/evaluate-alerts';
import { OpenCircuits } from './alerts/open-circuits';
import { GoneDestinations } from './alerts/gone-destinations';
import { AttemptLog } from './delivery/attempt-log';
import { AttemptObservers } from './delivery/attempt-observers';
import { DeliveryProcessor } from './delivery/delivery-processor';
import { DestinationCircuits } from './delivery/destination-circuits';
import { AdaptiveRateLimit } from './flow-control/adaptive-rate-limit';
import { IngestMessages } from './ingest/ingest-messages';
import { NatsIngest } from './ingest/nats-ingest';
import { DatabaseGauges } from './operations/database-gauges';
import { WorkerHttp } from './operations/worker-http';
import { WorkerMetrics } from './operations/worker-metrics';
import { MaintenanceSchedule } from './reconciler/maintenance-schedule';
import { ReconcileDeliveries } from './reconciler/reconcile-deliveries';
import { RetentionSweep } from './reconciler/retention-sweep';
import { ExpiredDownloads } from './reconciler/expired-downloads';
import { AutoDisable } from './reconciler/auto-disable';
import { DestinationSupervisor } from './supervisor/destination-supervisor';

@Module({})
export class WorkerModule {
  static forRoot(config: DispatchConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        QueueModule,
        IngestModule,
        TracingModule,
        BullModule.forRootAsync({
          inject: [REDIS, DISPATCH_CONFIG],
          useFactory: (redis: RedisConnection, dispatchConfig: DispatchConfig) => ({ connection: redis, prefix: dispatchConfig.queuePrefix }),
        }),
        BullModule.registerQueue({ name: MAINTENANCE_QUEUE }),
      ],
      providers: [
        { provide: FILE_STORE, inject: [DISPATCH_CONFIG], useFactory: (c: DispatchConfig) => createFileStore(c.files) },
        {
          provide: Senders,
          inject: [DISPATCH_CONFIG, FILE_STORE, DownloadLinkRepository, REDIS],
          useFactory: (c: DispatchConfig, files: FileStore, links: DownloadLinkRepository, redis: RedisConnection) => {
            // Before any destination is read.
            configureKinds({ storage: c.storage });
            return new Senders({
              ...c.attempts,
              egress: new EgressGuard(c.egressAllow),
              files,
              downloads: new RecordedDownloadLinks((link) => links.record(link), new DownloadTokens(c.encryption), c.publicUrl),
              live: new SubjectStreams(redis, c.queuePrefix, c.live),
            });
          },
        },
        ExpiredDownloads,
        AttemptObservers,
        AttemptLog,
        OpenCircuits,
        EvaluateAlerts,
        GoneDestinations,
        WorkerMetrics,
        DatabaseGauges,
        AdaptiveRateLimit,
        WorkerHttp,
        DestinationCircuits,
        DeliveryProcessor,
        DestinationSupervisor,
        ReconcileDeliveries,
        RetentionSweep,
        AutoDisable,
        MaintenanceSchedule,
        IngestMessages,
        NatsIngest,
      ],
    };
  }
}
