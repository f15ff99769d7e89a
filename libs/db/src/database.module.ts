import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { SecretBox } from '@dispatch/domain';
import { createDatabase, Database, PrismaClient } from './prisma';
import { OrganizationRepository } from './organizations';
import { DestinationRepository } from './destinations';
import { EventRepository } from './events';
import { DeliveryRepository } from './deliveries';
import { AttemptRepository } from './attempts';
import { OperatorActions } from './operator-actions';
import { EventStories } from './event-stories';
import { DeadLetterRepository } from './dead-letters';
import { DeliveryScans } from './delivery-scans';
import { AuditRepository } from './audit';
import { ReplayRepository } from './replays';
import { RetentionRepository } from './retention';
import { DestinationHealthRepository } from './destination-health';
import { AlertRepository } from './alerts';
import { DeliveryMetricsRepository } from './delivery-metrics';
import { IngestRejectionRepository } from './ingest-rejections';
import { FileRepository } from './files';
import { DownloadLinkRepository } from './download-links';

@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly database: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}

/**
 * The Prisma client and the repositories (one per aggregate; deliveries' split by who uses
 * them), for any Nest app of Dispatch; and the SecretBox that seals and opens the destination
 * secrets stored (DISPATCH_ENCRYPTION_KEY).
 */
@Global()
@Module({
  providers: [
    { provide: Database, inject: [DISPATCH_CONFIG], useFactory: (config: DispatchConfig) => createDatabase(config.databaseUrl, { max: config.databasePool }) },
    { provide: PrismaClient, inject: [Database], useFactory: (database: Database) => database.prisma },
    DatabaseLifecycle,
    { provide: SecretBox, inject: [DISPATCH_CONFIG], useFactory: (config: DispatchConfig) => new SecretBox(config.encryption) },
    { provide: OrganizationRepository, inject: [Database], useFactory: (database: Database) => new OrganizationRepository(database) },
    { provide: DestinationRepository, inject: [Database], useFactory: (database: Database) => new DestinationRepository(database) },
    { provide: EventRepository, inject: [Database], useFactory: (database: Database) => new EventRepository(database) },
    { provide: DeliveryRepository, inject: [Database], useFactory: (database: Database) => new DeliveryRepository(database) },
    { provide: AttemptRepository, inject: [Database], useFactory: (database: Database) => new AttemptRepository(database) },
    { provide: OperatorActions, inject: [Database], useFactory: (database: Database) => new OperatorActions(database) },
    { provide: EventStories, inject: [Database], useFactory: (database: Database) => new EventStories(database) },
    { provide: DeadLetterRepository, inject: [Database], useFactory: (database: Database) => new DeadLetterRepository(database) },
    { provide: DeliveryScans, inject: [Database], useFactory: (database: Database) => new DeliveryScans(database) },
    { provide: AuditRepository, inject: [Database], useFactory: (database: Database) => new AuditRepository(database) },
    { provide: ReplayRepository, inject: [Database], useFactory: (database: Database) => new ReplayRepository(database) },
    { provide: RetentionRepository, inject: [Database], useFactory: (database: Database) => new RetentionRepository(database) },
    { provide: DestinationHealthRepository, inject: [Database], useFactory: (database: Database) => new DestinationHealthRepository(database) },
    { provide: AlertRepository, inject: [Database], useFactory: (database: Database) => new AlertRepository(database) },
    { provide: DeliveryMetricsRepository, inject: [Database], useFactory: (database: Database) => new DeliveryMetricsRepository(database) },
    { provide: IngestRejectionRepository, inject: [Database], useFactory: (database: Database) => new IngestRejectionRepository(database) },
    { provide: FileRepository, inject: [Database], useFactory: (database: Database) => new FileRepository(database) },
    { provide: DownloadLinkRepository, inject: [Database], useFactory: (database: Database) => new DownloadLinkRepository(database) },
  ],
  exports: [
    Database,
    SecretBox,
    PrismaClient,
    OrganizationRepository,
    DestinationRepository,
    EventRepository,
    DeliveryRepository,
    AttemptRepository,
    OperatorActions,
    EventStories,
    DeadLetterRepository,
    DeliveryScans,
    AuditRepository,
    ReplayRepository,
    RetentionRepository,
    DestinationHealthRepository,
    AlertRepository,
    DeliveryMetricsRepository,
    IngestRejectionRepository,
    FileRepository,
    DownloadLinkRepository,
  ],
})
export class DatabaseModule {}
