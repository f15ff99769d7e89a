import type { DestinationKind } from '../kind';
import { MqttConfig, mqttConfigSchema } from './config';
import { MqttSender } from './send';

export * from './config';
export * from './send';
export * from './verdict';

/** Signed events published to an MQTT 5 broker, the Standard Webhooks headers as user properties. */
export const mqttKind: DestinationKind<MqttConfig> = {
  kind: 'mqtt',
  configSchema: mqttConfigSchema,
  secretFields: ['secret', 'password'],
  signsWithSecret: true,
  endpoints: (config) => [{ path: 'url', host: new URL(config.url).hostname }],
  createSender: (deps) => new MqttSender(deps),
};
