import { z } from 'zod';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * An organization's alert settings. Every field may be left out (its default applies); a
 * condition set to `null` is never evaluated. `PUT /v1/alert-settings` replaces them whole.
 */
export const alertSettingsSchema = z
  .object({
    /** Failed attempts over attempts made in the last `windowMs` (429 and Retry-After answers are not failures). */
    failureRate: z
      .object({
        threshold: z.number().min(0).max(1).default(0.1),
        windowMs: z
          .number()
          .int()
          .min(1_000)
          .max(DAY_MS)
          .default(15 * MINUTE_MS),
      })
      .strict()
      .nullable()
      .default({ threshold: 0.1, windowMs: 15 * MINUTE_MS }),
    /** Failed attempts in a row (within the failure-rate window) that open an alert. */
    consecutiveFailures: z.number().int().min(1).max(1_000_000).nullable().default(5),
    /** Open deliveries (pending, delivering, retrying) above which a destination is backlogged. */
    backlog: z.number().int().min(0).max(1_000_000_000).nullable().default(1000),
    /** Average attempt duration over the failure-rate window above which a destination is slow. */
    responseTimeMs: z.number().int().min(1).max(DAY_MS).nullable().default(30_000),
    /** How long after an alert resolves the same condition of the same destination may not open another. */
    cooldownMs: z
      .number()
      .int()
      .min(0)
      .max(30 * DAY_MS)
      .default(60 * MINUTE_MS),
    /** Times after opening at which an alert not acknowledged escalates to level 1, 2, 3…, increasing. */
    escalateAfterMs: z
      .array(
        z
          .number()
          .int()
          .min(1_000)
          .max(30 * DAY_MS),
      )
      .max(10)
      .default([60 * MINUTE_MS, 4 * 60 * MINUTE_MS, DAY_MS])
      .superRefine((times, ctx) => {
        times.forEach((time, index) => {
          if (index > 0 && time <= times[index - 1]) ctx.addIssue({ code: 'custom', path: [index], message: 'must be greater than the time before it' });
        });
      }),
  })
  .strict();

export type AlertSettings = z.output<typeof alertSettingsSchema>;

/** What an organization that never changed its settings gets. */
export const DEFAULT_ALERT_SETTINGS: AlertSettings = alertSettingsSchema.parse({});

/** The settings as stored (written by this version or an older one), with defaults for what is missing or unreadable. */
export function storedAlertSettings(stored: unknown): AlertSettings {
  const parsed = alertSettingsSchema.safeParse(stored ?? {});
  return parsed.success ? parsed.data : DEFAULT_ALERT_SETTINGS;
}

/** The window every rate-based condition looks at: the failure-rate window, also when that condition is off. */
export function alertWindowMs(settings: AlertSettings): number {
  return settings.failureRate?.windowMs ?? DEFAULT_ALERT_SETTINGS.failureRate!.windowMs;
}
