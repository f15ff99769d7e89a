import { validateHeaderValue } from 'node:http';
import { z } from 'zod';

/** Headers Dispatch sets itself; a destination may not override them. */
export const DISPATCH_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'user-agent',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'dispatch-delivery-id',
  'dispatch-attempt',
  'dispatch-event-type',
]);

/** Headers that describe the connection or the message framing: HTTP (and undici) leave them to the client. */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection', 'host', 'content-length']);

/** Headers whose values are credentials whatever the config says: stored encrypted, shown as "********". */
export const CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key'];

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** Why `name` cannot be a custom header, or null. */
function headerNameProblem(name: string): string | null {
  if (!HEADER_NAME.test(name)) return `"${name}" is not a valid header name`;
  const lower = name.toLowerCase();
  if (DISPATCH_HEADERS.has(lower)) return `"${name}" is set by Dispatch and cannot be overridden`;
  if (CONNECTION_HEADERS.has(lower)) return `"${name}" is managed by the HTTP connection and cannot be set`;
  return null;
}

/** True when HTTP can carry `value` in a header (no CR, LF, NUL or other control character, nothing above U+00FF). */
function isCarriable(value: string): boolean {
  try {
    validateHeaderValue('x', value);
    return true;
  } catch {
    return false;
  }
}

const headerName = z.string().superRefine((name, ctx) => {
  if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', message: `"${name}" is not a valid header name` });
});

// Messages never repeat a header's value: it may be a credential.
const headerValue = z.string({ error: 'must be a string' }).max(4096, { error: 'must be at most 4096 characters' });

export const webhookConfigSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, message: 'must be an absolute http or https URL' }).meta({ examples: ['https://example.com/hook'] }),
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    headers: z
      .record(z.string(), headerValue)
      .default({})
      .superRefine((headers, ctx) => {
        const seen = new Set<string>();
        for (const [name, value] of Object.entries(headers)) {
          const problem = headerNameProblem(name);
          if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
          else if (seen.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'is given twice (header names are case-insensitive)' });
          else if (!isCarriable(value)) {
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: 'has a character a header cannot carry (CR, LF, NUL, another control character, or one above U+00FF)',
            });
          }
          seen.add(name.toLowerCase());
        }
      }),
    secretHeaders: z
      .array(headerName)
      .max(50)
      .optional()
      .describe(`Names of more headers whose values are credentials (${CREDENTIAL_HEADERS.join(', ')} always are): stored encrypted, shown as "********"`),
    secret: z.string().optional(),
  })
  .strict();

/** A webhook's config; its `secret` is kept apart from the rest once the destination exists. */
export type WebhookConfig = z.output<typeof webhookConfigSchema>;

/** The headers of `config` whose values are credentials: the usual ones and those named in `secretHeaders` (any case). */
export function secretHeaderNames(config: Readonly<Record<string, unknown>>): string[] {
  const named = Array.isArray(config.secretHeaders) ? config.secretHeaders.filter((name): name is string => typeof name === 'string') : [];
  const secret = new Set([...CREDENTIAL_HEADERS, ...named.map((name) => name.toLowerCase())]);
  const headers = typeof config.headers === 'object' && config.headers !== null ? Object.keys(config.headers) : [];
  return headers.filter((name) => secret.has(name.toLowerCase()));
}
