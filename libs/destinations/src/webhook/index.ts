import type { DestinationKind } from '../kind';
import { WebhookConfig, webhookConfigSchema } from './config';
import { WebhookSender } from './send';

export * from './config';
export * from './send';
export * from './verdict';

/** Signed HTTP webhooks (Standard Webhooks). */
export const webhookKind: DestinationKind<WebhookConfig> = {
  kind: 'webhook',
  configSchema: webhookConfigSchema,
  secretFields: ['secret'],
  signsWithSecret: true,
  endpoints: (config) => [{ path: 'url', host: new URL(config.url).hostname }],
  createSender: (deps) => new WebhookSender(deps),
};
