import { z } from 'zod';

/**
 * Templates name where a broker kind publishes (an MQTT topic, a NATS subject, a RabbitMQ
 * exchange and routing key) from the event: `{event.type}`, `{event.id}`, `{organization}`
 * (the organization id) and `{data.<path>}` (a dotted path into the event's data).
 */
const PLACEHOLDER = /\{([^{}]*)\}/g;
const KNOWN = /^(event\.type|event\.id|organization|data(\.[A-Za-z0-9_-]+)+)$/;

/** What a template is filled from. */
export type TemplateContext = { organizationId: string; event: { id: string; type: string; data: unknown } };

/** A template as a config field: every placeholder is one Dispatch knows. */
export function templateSchema(what: string) {
  return z
    .string()
    .min(1)
    .max(1024)
    .superRefine((template, context) => {
      const unknown = placeholdersOf(template).filter((name) => !KNOWN.test(name));
      if (unknown.length > 0)
        context.addIssue({
          code: 'custom',
          message: `${what} template has unknown placeholder {${unknown[0]}}; use {event.type}, {event.id}, {organization} or {data.<path>}`,
        });
      if (/[{}]/.test(template.replace(PLACEHOLDER, ''))) context.addIssue({ code: 'custom', message: `${what} template has an unmatched brace` });
    });
}

/** Why a template could not be filled from an event: the event lacks a value it names. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/**
 * The template filled from the event. A `{data.<path>}` must name a string, number or boolean;
 * a missing value, or an object, throws `TemplateError` naming the placeholder.
 */
export function renderTemplate(template: string, context: TemplateContext): string {
  return template.replace(PLACEHOLDER, (_whole, name: string) => {
    if (name === 'event.type') return context.event.type;
    if (name === 'event.id') return context.event.id;
    if (name === 'organization') return context.organizationId;
    const value = name
      .split('.')
      .slice(1)
      .reduce<unknown>((at, key) => (at !== null && typeof at === 'object' && !Array.isArray(at) ? (at as Record<string, unknown>)[key] : undefined), context.event.data);
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new TemplateError(
      value === undefined || value === null ? `the event's data has no value at {${name}}` : `{${name}} is not a string, number or boolean in the event's data`,
    );
  });
}

function placeholdersOf(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((match) => match[1]);
}
