import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { createPrismaClient, PrismaClient } from './prisma';
import { OrganizationRepository } from './organizations';
import { DestinationRepository } from './destinations';
import { EventRepository } from './events';
import { DeliveryRepository } from './deliveries';
import { AuditRepository } from './audit';
import { ReplayRepository } from './replays';

@Injectable()
class PrismaLifecycle implements OnApplicationShutdown {
  constructor(@Inject(PrismaClient) private readonly prisma: PrismaClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.prisma.$disconnect();
  }
}

/** The Prisma client and one repository per aggregate, for any Nest app of Dispatch. */
@Global()
@Module({
  providers: [
    {
      provide: PrismaClient,
      inject: [DISPATCH_CONFIG],
      useFactory: (config: DispatchConfig) => createPrismaClient(config.databaseUrl),
    },
    PrismaLifecycle,
    { provide: OrganizationRepository, inject: [PrismaClient], useFactory: (prisma: PrismaClient) => new OrganizationRepository(prisma) },
    { provide: DestinationRepository, inject: [PrismaClient], useFactory: (prisma: PrismaClient) => new DestinationRepository(prisma) },
    { provide: EventRepository, inject: [PrismaClient], useFactory: (prisma: PrismaClient) => new EventRepository(prisma) },
    { provide: DeliveryRepository, inject: [PrismaClient], useFactory: (prisma: PrismaClient) => new DeliveryRepository(prisma) },
    { provide: AuditRepository, inject: [PrismaClient], useFactory: (prisma: PrismaClient) => new AuditRepository(prisma) },
    { provide: ReplayRepository, inject: [PrismaClient], useFactory: (prisma: PrismaClient) => new ReplayRepository(prisma) },
  ],
  exports: [PrismaClient, OrganizationRepository, DestinationRepository, EventRepository, DeliveryRepository, AuditRepository, ReplayRepository],
})
export class DatabaseModule {}
