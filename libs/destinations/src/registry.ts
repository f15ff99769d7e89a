import { z } from 'zod';
import type { DestinationKind } from './kind';
import { webhookKind } from './webhook';
import { mqttKind } from './mqtt';
import { natsKind } from './nats';
import { rabbitmqKind } from './rabbitmq';
import { configureStorage, StorageDeploymentSettings, storageKind } from './storage';
import { emailKind } from './email';
import { sftpKind } from './sftp';
import { downloadKind } from './download';
import { websocketKind } from './websocket';

/** Every kind this deployment delivers to: one line each. */
export const destinationKinds: readonly DestinationKind[] = [
  webhookKind,
  mqttKind,
  natsKind,
  rabbitmqKind,
  emailKind,
  sftpKind,
  storageKind,
  downloadKind,
  websocketKind,
];

/** What a deployment sets for its kinds (from its config), where a kind needs settings of the deployment. */
export type KindSettings = Readonly<{ storage: StorageDeploymentSettings }>;

/** Gives the kinds the deployment's settings: once, at startup, before any config is read or file sent. */
export function configureKinds(settings: KindSettings): void {
  configureStorage(settings.storage);
}

/** The kind named `kind`, if this deployment has it. */
export function findKind(kind: string): DestinationKind | undefined {
  return destinationKinds.find((entry) => entry.kind === kind);
}

/** A kind as `GET /v1/destination-kinds` describes it. */
export function describeKind(kind: DestinationKind): { kind: string; configSchema: unknown; secretFields: readonly string[] } {
  return { kind: kind.kind, configSchema: z.toJSONSchema(kind.configSchema, { io: 'input', unrepresentable: 'any' }), secretFields: kind.secretFields };
}
