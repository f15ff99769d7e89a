import type { DestinationKind } from '../kind';
import { CREDENTIAL_HEADERS, DISPATCH_HEADERS, secretHeaderNames, WebhookConfig, webhookConfigSchema } from './config';
import { WebhookSender } from './send';

export * from './config';
export * from './send';
export * from './verdict';

/** Signed HTTP webhooks (Standard Webhooks). */
export const webhookKind: DestinationKind<WebhookConfig> = {
  kind: 'webhook',
  configSchema: webhookConfigSchema,
  // And the headers named in `secretHeaders`, which depend on the config.
  secretFields: ['secret', ...CREDENTIAL_HEADERS.map((name) => `headers.${name}`)],
  secretPaths: (config) => secretHeaderNames(config).map((name) => ['headers', name]),
  signsWithSecret: true,
  endpoints: (config) => [{ path: 'url', host: new URL(config.url).hostname }],
  // Header names only: a value may be a credential.
  requestProperties: (config) => ({
    method: typeof config.method === 'string' ? config.method : 'POST',
    url: config.url,
    headers: [...DISPATCH_HEADERS, ...Object.keys(typeof config.headers === 'object' && config.headers !== null ? config.headers : {})],
  }),
  createSender: (deps) => new WebhookSender(deps),
};
