import type { DestinationKind } from '../kind';
import { NatsConfig, natsConfigSchema } from './config';
import { NatsSender } from './send';

export * from './config';
export * from './send';
export * from './subject';
export * from './verdict';

/** Signed messages published to NATS subjects, core or JetStream. */
export const natsKind: DestinationKind<NatsConfig> = {
  kind: 'nats',
  configSchema: natsConfigSchema,
  secretFields: ['secret', 'token', 'password'],
  signsWithSecret: true,
  endpoints: (config) => [{ path: 'url', host: new URL(config.url).hostname }],
  createSender: (deps) => new NatsSender(deps),
};
