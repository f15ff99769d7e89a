import { z } from 'zod';

/** The OpenAPI schema of a request body, from the same zod schema that validates it. */
export function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** A destination body's schema whose `config` is described by each registered kind's config schema. */
export function withKindConfigs(schema: Record<string, unknown>, kinds: readonly { kind: string; configSchema: unknown }[]): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  const configs = kinds.map(({ kind, configSchema }) => {
    const { $schema: _ignored, ...rest } = configSchema as Record<string, unknown>;
    return { title: `${kind} config`, ...rest };
  });
  return { ...schema, properties: { ...properties, config: { oneOf: configs, description: "The config of the destination's kind (GET /v1/destination-kinds)" } } };
}
