import { z } from 'zod';
import { API_KEY_ROLES } from '@dispatch/domain';

export const createApiKeySchema = z
  .object({
    /** What the key is for, shown in the list: "ci", "billing service". */
    name: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(100, 'must be at most 100 characters')
      .regex(/^\P{Cc}*$/u, 'must not contain control characters'),
    role: z.enum(API_KEY_ROLES),
  })
  .strict();

export type CreateApiKeyInput = z.output<typeof createApiKeySchema>;

export const createOrganizationSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit'),
  })
  .strict();
