import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { createDatabase, Database, PrismaClient } from './prisma';
import { OrganizationRepository } from './organizations';
import { DestinationRepository } from './destinations';
import { EventRepository } from './events';
import { DeliveryRepository } from './deliveries';
import { AuditRepository } from './audit';
import { ReplayRepository } from './replays';

@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly database: Database) {}

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}

/** The Prisma client and one repository per aggregate, for any Nest app of Dispatch. */
@Global()
@Module({
  providers: [
    { provide: Database, inject: [DISPATCH_CONFIG], useFactory: (config: DispatchConfig) => createDatabase(config.databaseUrl, { max: config.databasePool }) },
    { provide: PrismaClient, inject: [Database], useFactory: (database: Database) => database.prisma },
    DatabaseLifecycle,
    { provide: OrganizationRepository, inject: [Database], useFactory: (database: Database) => new OrganizationRepository(database) },
    { provide: DestinationRepository, inject: [Database], useFactory: (database: Database) => new DestinationRepository(database) },
    { provide: EventRepository, inject: [Database], useFactory: (database: Database) => new EventRepository(database) },
    { provide: DeliveryRepository, inject: [Database], useFactory: (database: Database) => new DeliveryRepository(database) },
    { provide: AuditRepository, inject: [Database], useFactory: (database: Database) => new AuditRepository(database) },
    { provide: ReplayRepository, inject: [Database], useFactory: (database: Database) => new ReplayRepository(database) },
  ],
  exports: [Database, PrismaClient, OrganizationRepository, DestinationRepository, EventRepository, DeliveryRepository, AuditRepository, ReplayRepository],
})
export class DatabaseModule {}
