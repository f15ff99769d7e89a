import { z } from 'zod';
import { fileNameSchema } from '../files/delivered-file';
import { templateSchema } from '../messages/templates';

const address = z.email({ error: 'must be an email address' }).max(320);

/** What every email transport shares: who it is from and to, the subject, and how the file travels. */
const message = {
  from: address.describe('The sender address (with SendGrid, Resend and SES, one the provider has verified)').meta({ examples: ['dispatch@example.com'] }),
  to: z.array(address).min(1, { error: 'must name at least one recipient' }).max(50).describe('The recipients (1 to 50), all on one email'),
  subject: templateSchema('subject').default('{event.type}').describe('A template: {event.type}, {event.id}, {organization}, {data.<path>}'),
  attach: z.boolean().default(true).describe('true: the file is attached; false: its text is the body of the email (text files only)'),
  fileName: fileNameSchema,
};

const endpoint = z
  .url({ protocol: /^https?$/, message: 'must be an absolute http or https URL' })
  .refine((url) => !new URL(url).username && !new URL(url).password, 'must not carry credentials: use apiKey')
  .optional()
  .describe("The provider's API base URL, for a regional or compatible service; the provider's own by default");

const apiKey = z.string().min(1).max(4096);

export const smtpConfigSchema = z
  .object({
    transport: z.literal('smtp').describe('How the email is sent: smtp, sendgrid, resend or ses'),
    host: z
      .string()
      .min(1)
      .max(253)
      .meta({ examples: ['smtp.example.com'] }),
    port: z.int().min(1).max(65_535).default(587),
    secure: z.boolean().default(false).describe('true: TLS from the start (port 465); false: STARTTLS when the server offers it'),
    requireTls: z
      .boolean()
      .default(false)
      .meta({ title: 'Require TLS' })
      .describe('With secure false: send nothing (no login, no mail) unless the server offers STARTTLS'),
    username: z.string().min(1).max(1024).optional(),
    password: z.string().max(1024).optional(),
    ...message,
  })
  .strict();

export const sendgridConfigSchema = z.object({ transport: z.literal('sendgrid'), apiKey, endpoint, ...message }).strict();
export const resendConfigSchema = z.object({ transport: z.literal('resend'), apiKey, endpoint, ...message }).strict();
export const sesConfigSchema = z
  .object({
    transport: z.literal('ses'),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { error: 'must be an AWS region such as eu-west-1' })
      .max(32)
      .meta({ examples: ['eu-west-1'] }),
    accessKeyId: z.string().min(1).max(128).meta({ title: 'Access key id' }).describe('The access key id of an IAM user or role allowed ses:SendEmail'),
    apiKey: apiKey.describe('The secret access key that goes with accessKeyId').meta({ title: 'Secret access key' }),
    endpoint,
    ...message,
  })
  .strict();

export const emailConfigSchema = z.discriminatedUnion('transport', [smtpConfigSchema, sendgridConfigSchema, resendConfigSchema, sesConfigSchema]);

export type EmailConfig = z.output<typeof emailConfigSchema>;
export type SmtpConfig = z.output<typeof smtpConfigSchema>;
export type SendgridConfig = z.output<typeof sendgridConfigSchema>;
export type ResendConfig = z.output<typeof resendConfigSchema>;
export type SesConfig = z.output<typeof sesConfigSchema>;
export type ProviderConfig = SendgridConfig | ResendConfig | SesConfig;

/** The API base a provider is called at, when the config names none. */
export function providerBase(config: ProviderConfig): string {
  if (config.endpoint) return config.endpoint.replace(/\/+$/, '');
  if (config.transport === 'sendgrid') return 'https://api.sendgrid.com';
  if (config.transport === 'resend') return 'https://api.resend.com';
  return `https://email.${config.region}.amazonaws.com`;
}
