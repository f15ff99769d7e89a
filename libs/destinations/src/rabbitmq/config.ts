import { z } from 'zod';
import { templateSchema } from '../messages';

/** A login part of the URL or a `username`/`password` field: never repeated in a message. */
const credential = z.string({ error: 'must be a string' }).max(255, { error: 'must be at most 255 characters' });

const brokerUrl = z.url({ protocol: /^amqps?$/, error: 'must be an amqp:// or amqps:// URL' }).superRefine((text, context) => {
  if (!URL.canParse(text)) return;
  const url = new URL(text);
  if (url.hostname === '') context.addIssue({ code: 'custom', message: 'must name the broker host' });
  if (url.search !== '' || url.hash !== '') context.addIssue({ code: 'custom', message: 'takes no query or fragment: Dispatch sets the connection options itself' });
  if (url.pathname.length > 1 && url.pathname.slice(1).includes('/'))
    context.addIssue({ code: 'custom', message: 'names the virtual host in one path segment (encode "/" as %2F)' });
});

/**
 * A RabbitMQ destination's config. Credentials given in the URL (`amqp://user:pass@host/vhost`)
 * are moved to `username` and `password` when the config is read, so the URL kept and shown
 * never carries them and they are stored encrypted like any secret field.
 */
export const rabbitmqConfigSchema = z
  .object({
    url: brokerUrl
      .describe('amqp://[user:pass@]host[:5672][/vhost] (amqps:// for TLS); credentials in it are moved to username and password')
      .meta({ examples: ['amqp://rabbitmq.example.com:5672/events'] }),
    exchange: templateSchema('exchange')
      .describe('The exchange to publish to (it must exist: Dispatch does not declare it)')
      .meta({ examples: ['events'] }),
    routingKey: templateSchema('routing key').default('{event.type}'),
    persistent: z.boolean().default(true).describe('Publish with delivery mode 2 (persistent)'),
    username: credential.optional(),
    password: credential.optional(),
    secret: z.string().optional(),
  })
  .strict()
  .transform((config, context) => {
    const url = new URL(config.url);
    if (url.username === '' && url.password === '') return config;
    if (config.username !== undefined || config.password !== undefined) {
      context.addIssue({ code: 'custom', path: ['url'], message: 'carries credentials while username or password is given too: give them in one place' });
      return z.NEVER;
    }
    const username = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    url.username = '';
    url.password = '';
    return { ...config, url: url.toString(), username, password };
  });

/** A RabbitMQ destination's config, its credentials out of the URL; its `secret` is kept apart once the destination exists. */
export type RabbitmqConfig = z.output<typeof rabbitmqConfigSchema>;

/** What amqplib's `connect` takes to reach the broker of `config` (the virtual host still URL-encoded: amqplib decodes it). */
export type BrokerAddress = { protocol: 'amqp' | 'amqps'; hostname: string; port: number; vhost: string; username?: string; password?: string };

/** Where `config` connects, and as whom (no credentials: amqplib's default, guest/guest). */
export function brokerAddress(config: RabbitmqConfig): BrokerAddress {
  const url = new URL(config.url);
  const protocol = url.protocol === 'amqps:' ? 'amqps' : 'amqp';
  return {
    protocol,
    hostname: brokerHost(config),
    port: url.port === '' ? (protocol === 'amqps' ? 5671 : 5672) : Number(url.port),
    vhost: url.pathname.slice(1),
    ...(config.username === undefined && config.password === undefined ? {} : { username: config.username ?? '', password: config.password ?? '' }),
  };
}

/** The broker's host as the URL names it, without the brackets of an IPv6 literal. */
export function brokerHost(config: Pick<RabbitmqConfig, 'url'>): string {
  return new URL(config.url).hostname.replace(/^\[(.*)\]$/, '$1');
}

/** The virtual host, as the broker names it. */
export function virtualHost(config: Pick<RabbitmqConfig, 'url'>): string {
  const path = new URL(config.url).pathname.slice(1);
  return path === '' ? '/' : decodeURIComponent(path);
}
