import { Injectable, InternalServerErrorException, Logger } from '@nestjs/common';
import type { DestinationRecord, Prisma } from '@dispatch/db';
import {
  DestinationKind,
  DestinationSettings,
  destinationSettings,
  keepMaskedSecrets,
  openSecret,
  PREVIOUS_SECRET_FIELD,
  sealConfig,
  SIGNING_SECRET_FIELD,
  storedConfigReader,
} from '@dispatch/destinations';
import { SecretBox, SecretUnreadableError } from '@dispatch/domain';
import { badRequest } from '../http/errors';

const KEEP_NOTHING = 'is "********", which keeps a stored value, but there is none: give the value';

/**
 * A destination's secrets on their way to and from the database: sealed (DISPATCH_ENCRYPTION_KEY)
 * before they are written, opened only to send or to move them, and `"********"` in a config
 * sent back taken as "keep the stored value". A stored secret this process cannot open (a key
 * it lacks) is a 500 whose message names the destination, the field and the key, and is logged.
 */
@Injectable()
export class DestinationSecrets {
  private readonly logger = new Logger(DestinationSecrets.name);

  constructor(private readonly box: SecretBox) {}

  /** A new destination's config, every credential sealed; a credential sent as `"********"` has nothing to keep (400). */
  newConfig(kind: DestinationKind, destinationId: string, config: Prisma.InputJsonObject): Prisma.InputJsonObject {
    const { missing } = keepMaskedSecrets(kind, config, {}, (value) => value);
    if (missing.length > 0) throw badRequest(missing.map((path) => ({ path: `config.${path}`, message: KEEP_NOTHING })));
    return sealConfig(kind, config, this.box, destinationId) as Prisma.InputJsonObject;
  }

  /**
   * The config replacing a destination's: every credential sent as `"********"` keeps the stored
   * value at its path (400 when there is none), then all are sealed. Only the values kept are
   * opened, so credentials given anew replace ones no key here can read.
   */
  changedConfig(kind: DestinationKind, current: DestinationRecord, config: Prisma.InputJsonObject): Prisma.InputJsonObject {
    const { config: kept, missing } = this.opening(() => keepMaskedSecrets(kind, config, current.config, storedConfigReader(this.box, current.id)));
    if (missing.length > 0) throw badRequest(missing.map((path) => ({ path: `config.${path}`, message: KEEP_NOTHING })));
    return sealConfig(kind, kept, this.box, current.id) as Prisma.InputJsonObject;
  }

  /** A signing secret sealed for the destination (current, or previous after a rotation). */
  sealSigningSecret(destinationId: string, secret: string, previous = false): string {
    return this.box.seal(secret, { row: destinationId, field: previous ? PREVIOUS_SECRET_FIELD : SIGNING_SECRET_FIELD });
  }

  /** A destination's current signing secret (as stored), opened: to keep it signing as the previous one. */
  signingSecret(destinationId: string, sealed: string): string {
    return this.opening(() => openSecret(this.box, sealed, { row: destinationId, field: SIGNING_SECRET_FIELD }));
  }

  /** The destination as its kind's sender takes it, secrets opened. */
  settings(destination: DestinationRecord): DestinationSettings {
    return this.opening(() => destinationSettings(destination, this.box));
  }

  private opening<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (!(error instanceof SecretUnreadableError)) throw error;
      this.logger.error(error.message);
      throw new InternalServerErrorException({ statusCode: 500, error: 'Internal Server Error', message: error.message });
    }
  }
}
