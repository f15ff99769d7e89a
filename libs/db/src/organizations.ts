import { hashApiKey, newId } from '@dispatch/domain';
import type { ApiKeyRole } from '@dispatch/domain';
import { Prisma } from './prisma';
import type { Database, PrismaClient } from './prisma';

export type Caller = { organizationId: string; organizationName: string; role: ApiKeyRole; apiKeyId: string };

/** An API key as its organization's admins see it: never its hash. */
export type ApiKeyRecord = { id: string; name: string; role: ApiKeyRole; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null };

/** What start-up did with DISPATCH_BOOTSTRAP_KEY. */
export type BootstrapOutcome = {
  organizationId: string;
  /** The key was revoked before (through the API): it stays revoked, and nothing else changed. */
  keyRevoked: boolean;
  /** Earlier bootstrap keys revoked now, because the value changed. */
  previousRevoked: number;
};

/** What revoking a key did. */
export type Revocation = 'revoked' | 'already-revoked' | 'not-found' | 'last-admin';

/** The organization made at start-up for the operator; its admin keys also open the queues. */
export const OPERATOR_ORGANIZATION = 'default';

/** How stale `lastUsedAt` may get: a key's use is written at most this often. */
export const LAST_USED_PRECISION_MS = 60_000;

const apiKeyFields = { id: true, name: true, role: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

export class OrganizationRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  /**
   * Makes sure organization `default` exists with an admin key equal to `key`, and revokes the
   * bootstrap keys made from earlier values. A key revoked through the API stays revoked. Safe to
   * run from several processes at once: each takes the organization's row lock in turn.
   */
  async ensureBootstrap(key: string): Promise<BootstrapOutcome> {
    await this.prisma.organization.createMany({ data: [{ id: newId('org'), name: OPERATOR_ORGANIZATION }], skipDuplicates: true });
    const hash = hashApiKey(key);
    return this.prisma.$transaction(async (tx) => {
      const [organization] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM organizations WHERE name = ${OPERATOR_ORGANIZATION} FOR UPDATE`;
      const organizationId = organization.id;
      const existing = await tx.apiKey.findUnique({ where: { hash } });
      if (existing && (existing.organizationId !== organizationId || existing.role !== 'admin')) {
        throw new Error(`DISPATCH_BOOTSTRAP_KEY is already a key of another organization or role; choose a new value`);
      }
      if (existing?.revokedAt) return { organizationId, keyRevoked: true, previousRevoked: 0 };
      if (!existing) await tx.apiKey.create({ data: { id: newId('key'), organizationId, name: 'bootstrap', role: 'admin', hash, bootstrap: true } });
      else if (!existing.bootstrap) await tx.apiKey.update({ where: { id: existing.id }, data: { bootstrap: true } });
      const previous = await tx.apiKey.updateMany({
        where: { organizationId, bootstrap: true, revokedAt: null, hash: { not: hash } },
        data: { revokedAt: new Date() },
      });
      return { organizationId, keyRevoked: false, previousRevoked: previous.count };
    });
  }

  async create(name: string): Promise<{ id: string }> {
    return this.prisma.organization.create({ data: { id: newId('org'), name }, select: { id: true } });
  }

  /** A new organization with one admin key (its hash only is stored); null when the name is taken. */
  async createWithAdminKey(name: string, adminKey: string): Promise<{ id: string; name: string } | null> {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const organization = await tx.organization.create({ data: { id: newId('org'), name }, select: { id: true, name: true } });
        await tx.apiKey.create({ data: { id: newId('key'), organizationId: organization.id, name: 'admin', role: 'admin', hash: hashApiKey(adminKey) } });
        return organization;
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') return null;
      throw error;
    }
  }

  async find(id: string): Promise<{ id: string; name: string } | null> {
    return this.prisma.organization.findUnique({ where: { id }, select: { id: true, name: true } });
  }

  /** The ids among `ids` that are organizations. */
  async existing(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.prisma.organization.findMany({ where: { id: { in: [...ids] } }, select: { id: true } });
    return new Set(rows.map((row) => row.id));
  }

  /** Stores a new key (its hash only) for the organization. */
  async addApiKey(organizationId: string, name: string, role: ApiKeyRole, key: string): Promise<ApiKeyRecord> {
    return this.prisma.apiKey.create({
      data: { id: newId('key'), organizationId, name, role, hash: hashApiKey(key) },
      select: apiKeyFields,
    });
  }

  /** The organization's keys, revoked ones included, oldest first. */
  async listApiKeys(organizationId: string): Promise<ApiKeyRecord[]> {
    return this.prisma.apiKey.findMany({ where: { organizationId }, select: apiKeyFields, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  }

  /**
   * Revokes a key of the organization, unless it is the organization's last admin key that is
   * not revoked. The organization's row is locked for the check and the change, so two
   * revocations at once cannot take away its last two admin keys.
   */
  async revokeApiKey(organizationId: string, id: string): Promise<Revocation> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM organizations WHERE id = ${organizationId} FOR UPDATE`;
      const key = await tx.apiKey.findFirst({ where: { id, organizationId }, select: { role: true, revokedAt: true } });
      if (!key) return 'not-found';
      if (key.revokedAt) return 'already-revoked';
      if (key.role === 'admin') {
        const admins = await tx.apiKey.count({ where: { organizationId, role: 'admin', revokedAt: null } });
        if (admins <= 1) return 'last-admin';
      }
      await tx.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
      return 'revoked';
    });
  }

  /** The caller whose key has this hash (see hashApiKey), or null when there is none or it was revoked. */
  async findCaller(hash: string): Promise<Caller | null> {
    const found = await this.prisma.apiKey.findFirst({ where: { hash, revokedAt: null }, include: { organization: { select: { name: true } } } });
    return found ? { organizationId: found.organizationId, organizationName: found.organization.name, role: found.role, apiKeyId: found.id } : null;
  }

  /** Records that a key was used at `at`, unless a use within LAST_USED_PRECISION_MS before it is recorded. */
  async recordUse(apiKeyId: string, at: Date): Promise<void> {
    const staleBefore = new Date(at.getTime() - LAST_USED_PRECISION_MS);
    await this.prisma.apiKey.updateMany({
      where: { id: apiKeyId, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: staleBefore } }] },
      data: { lastUsedAt: at },
    });
  }
}
