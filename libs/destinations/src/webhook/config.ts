import { z } from 'zod';

/** Headers Dispatch sets itself; a destination may not override them. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'user-agent',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'dispatch-delivery-id',
  'dispatch-attempt',
  'dispatch-event-type',
  'connection',
  'transfer-encoding',
]);

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export const webhookConfigSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, message: 'must be an absolute http or https URL' }),
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    headers: z
      .record(z.string(), z.string().max(4096))
      .default({})
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not a valid header name` });
          else if (RESERVED_HEADERS.has(name.toLowerCase())) {
            ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is set by Dispatch and cannot be overridden` });
          }
        }
      }),
    secret: z.string().optional(),
  })
  .strict();

/** A webhook's config; its `secret` is kept apart from the rest once the destination exists. */
export type WebhookConfig = z.output<typeof webhookConfigSchema>;
