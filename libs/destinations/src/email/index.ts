import type { DestinationKind } from '../kind';
import { EmailConfig, emailConfigSchema, providerBase } from './config';
import { EmailSender } from './send';

export * from './config';
export * from './send';
export * from './verdict';

/** The delivered file by email: SMTP, SendGrid, Resend or Amazon SES. */
export const emailKind: DestinationKind<EmailConfig> = {
  kind: 'email',
  configSchema: emailConfigSchema,
  secretFields: ['password', 'apiKey'],
  signsWithSecret: false,
  endpoints: (config) =>
    config.transport === 'smtp'
      ? [{ path: 'host', host: config.host }]
      : [{ path: config.endpoint ? 'endpoint' : 'transport', host: new URL(providerBase(config)).hostname }],
  createSender: (deps) => new EmailSender(deps),
};
