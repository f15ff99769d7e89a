import { hashApiKey, newId } from '@dispatch/domain';
import type { ApiKeyRole } from '@dispatch/domain';
import type { Database, PrismaClient } from './prisma';

export type Caller = { organizationId: string; organizationName: string; role: ApiKeyRole; apiKeyId: string };

/** The organization made at start-up for the operator; its admin keys also open the queues. */
export const OPERATOR_ORGANIZATION = 'default';

export class OrganizationRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  /** Makes sure organization `default` exists with an admin key equal to `key` (safe to run concurrently). */
  async ensureBootstrap(key: string): Promise<{ organizationId: string }> {
    await this.prisma.organization.createMany({ data: [{ id: newId('org'), name: OPERATOR_ORGANIZATION }], skipDuplicates: true });
    const organization = await this.prisma.organization.findUniqueOrThrow({ where: { name: OPERATOR_ORGANIZATION } });
    await this.prisma.apiKey.createMany({
      data: [{ id: newId('key'), organizationId: organization.id, name: 'bootstrap', role: 'admin', hash: hashApiKey(key) }],
      skipDuplicates: true,
    });
    return { organizationId: organization.id };
  }

  async create(name: string): Promise<{ id: string }> {
    return this.prisma.organization.create({ data: { id: newId('org'), name }, select: { id: true } });
  }

  /** Stores a new key (its hash only) for the organization. */
  async addApiKey(organizationId: string, name: string, role: ApiKeyRole, key: string): Promise<{ id: string }> {
    return this.prisma.apiKey.create({
      data: { id: newId('key'), organizationId, name, role, hash: hashApiKey(key) },
      select: { id: true },
    });
  }

  /** The caller whose key has this hash (see hashApiKey), or null. */
  async findCaller(hash: string): Promise<Caller | null> {
    const found = await this.prisma.apiKey.findUnique({ where: { hash }, include: { organization: { select: { name: true } } } });
    return found ? { organizationId: found.organizationId, organizationName: found.organization.name, role: found.role, apiKeyId: found.id } : null;
  }
}
