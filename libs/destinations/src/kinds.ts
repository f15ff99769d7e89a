import { z } from 'zod';
import { webhookConfigSchema } from './webhook/config';

/** The destination kinds that can be created now; the others are named but not yet built. */
export const AVAILABLE_KINDS = ['webhook'] as const;
export type AvailableKind = (typeof AVAILABLE_KINDS)[number];

export const configSchemas: Record<AvailableKind, z.ZodType> = {
  webhook: webhookConfigSchema,
};

export function isAvailableKind(kind: string): kind is AvailableKind {
  return (AVAILABLE_KINDS as readonly string[]).includes(kind);
}
