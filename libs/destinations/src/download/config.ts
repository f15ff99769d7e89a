import { z } from 'zod';
import { fileNameSchema } from '../files/delivered-file';

/** The longest a link may stay valid: one year. */
export const MAX_EXPIRES_IN_SECONDS = 31_536_000;

export const downloadConfigSchema = z
  .object({
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(MAX_EXPIRES_IN_SECONDS)
      .default(604_800)
      .describe('How long the link serves the file after the delivery (default 7 days; 60 s to 1 year); then it answers 410 and the file is removed'),
    maxDownloads: z.number().int().min(1).nullable().default(null).describe('How many downloads the link serves before it answers 410; null: no limit'),
    fileName: fileNameSchema.describe('The downloaded file name, a template (default {event.id}.json)'),
  })
  .strict();

export type DownloadConfig = z.output<typeof downloadConfigSchema>;
