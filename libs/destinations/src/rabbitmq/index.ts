import type { DestinationKind } from '../kind';
import { brokerHost, RabbitmqConfig, rabbitmqConfigSchema } from './config';
import { RabbitmqSender } from './send';

export * from './config';
export * from './send';
export * from './verdict';

/** Signed events published to a RabbitMQ exchange, delivered when the broker confirms them. */
export const rabbitmqKind: DestinationKind<RabbitmqConfig> = {
  kind: 'rabbitmq',
  configSchema: rabbitmqConfigSchema,
  // The signing secret, and the credentials (given in the URL, they are moved to these fields when the config is read).
  secretFields: ['secret', 'username', 'password'],
  signsWithSecret: true,
  endpoints: (config) => [{ path: 'url', host: brokerHost(config) }],
  createSender: (deps) => new RabbitmqSender(deps),
};
