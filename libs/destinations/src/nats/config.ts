import { z } from 'zod';
import { templateSchema } from '../messages';
import { subjectProblem } from './subject';

/** The port a NATS server listens on when the URL names none. */
export const NATS_DEFAULT_PORT = 4222;

const url = z
  .string()
  .max(2048)
  .superRefine((text, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute nats:// or tls:// URL (nats://host:4222)' });
      return;
    }
    if (parsed.protocol !== 'nats:' && parsed.protocol !== 'tls:') ctx.addIssue({ code: 'custom', message: 'must be a nats:// or tls:// URL' });
    else if (!parsed.hostname) ctx.addIssue({ code: 'custom', message: 'must name a host' });
    // Credentials have fields of their own, stored encrypted: a URL is shown as it is.
    else if (parsed.username || parsed.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials: use token, or username and password' });
    else if ((parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search || parsed.hash)
      ctx.addIssue({ code: 'custom', message: 'must be only a host and a port' });
  });

// A template whose placeholders are filled with a plain token must make a valid subject.
const subject = templateSchema('subject').superRefine((template, ctx) => {
  const problem = subjectProblem(template.replace(/\{[^{}]*\}/g, 'x'));
  if (problem) ctx.addIssue({ code: 'custom', message: `subject template ${problem}` });
});

export const natsConfigSchema = z
  .object({
    url: url.describe('nats://host:4222, or tls://host:4222 for a server that takes TLS').meta({ examples: ['nats://nats.example.com:4222'] }),
    subject: subject.describe('Where each event is published: {event.type}, {event.id}, {organization}, {data.<path>}').meta({ examples: ['events.{event.type}'] }),
    jetstream: z.boolean().default(false).describe('Publish to JetStream: delivered when the stream acknowledges it'),
    token: z.string().min(1).max(4096).optional(),
    username: z.string().min(1).max(1024).optional(),
    password: z.string().min(1).max(4096).optional(),
    secret: z.string().optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.password !== undefined && config.username === undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: 'is required with password' });
    if (config.token !== undefined && config.username !== undefined)
      ctx.addIssue({ code: 'custom', path: ['token'], message: 'cannot be given with username: use one or the other' });
  });

/** A NATS destination's config; its `secret` is kept apart from the rest once the destination exists. */
export type NatsConfig = z.output<typeof natsConfigSchema>;
