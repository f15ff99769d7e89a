import { z } from 'zod';
import { templateSchema } from '../messages';

/** The most bytes an MQTT topic name can have (a 16-bit length). */
export const TOPIC_MAX_BYTES = 65_535;

/** Why `topic` cannot be a topic Dispatch publishes to, or null. */
export function topicProblem(topic: string): string | null {
  if (topic.length === 0) return 'is empty';
  if (/[+#]/.test(topic)) return 'has a wildcard (+ or #), which a published topic may not have';
  if (topic.includes('\u0000')) return 'has a NUL character';
  if (Buffer.byteLength(topic, 'utf8') > TOPIC_MAX_BYTES) return `is longer than ${TOPIC_MAX_BYTES} bytes`;
  return null;
}

export const mqttConfigSchema = z
  .object({
    url: z
      .url({ protocol: /^mqtts?$/, message: 'must be an mqtt:// or mqtts:// URL' })
      .superRefine((url, ctx) => {
        const parsed = new URL(url);
        // The URL is shown in answers: credentials belong in username and password, stored encrypted.
        if (parsed.username || parsed.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials: use username and password' });
        if (!parsed.hostname) ctx.addIssue({ code: 'custom', message: 'must name a host' });
        if ((parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search || parsed.hash)
          ctx.addIssue({ code: 'custom', message: 'must have no path, query or fragment' });
      })
      .meta({ examples: ['mqtt://broker.example.com:1883'] }),
    topic: templateSchema('topic')
      .superRefine((template, ctx) => {
        // The parts the event does not fill: a filled-in value is checked when publishing.
        const problem = topicProblem(template.replace(/\{[^{}]*\}/g, 'x'));
        if (problem) ctx.addIssue({ code: 'custom', message: `topic ${problem}` });
      })
      .meta({ examples: ['devices/{data.device_id}/events'] }),
    qos: z
      .literal([0, 1, 2], { error: 'must be 0, 1 or 2' })
      .default(1)
      .describe('1 (default) or 2: delivered when the broker acknowledges the message; 0: once it is written to the socket')
      .meta({ title: 'QoS' }),
    retain: z.boolean().default(false).describe('Ask the broker to keep the message as the retained message of its topic'),
    username: z.string().min(1).max(1024).optional(),
    password: z.string().max(1024).optional(),
    secret: z.string().optional(),
  })
  .strict();

/** An MQTT destination's config; its `secret` is kept apart from the rest once the destination exists. */
export type MqttConfig = z.output<typeof mqttConfigSchema>;
