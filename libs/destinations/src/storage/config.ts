import path from 'node:path';
import { z } from 'zod';
import { fileNameSchema } from '../files';
import { templateSchema } from '../messages';
import { storageSettings } from './settings';

/** The setting that lists the directories (absolute, comma-separated) filesystem destinations may write under. */
export const STORAGE_DIRECTORIES_SETTING = 'DISPATCH_STORAGE_DIRECTORIES';

/** Why `key` (a rendered prefix and file name, `/`-separated) cannot name an object, or null. */
export function objectKeyProblem(key: string): string | null {
  if (key.startsWith('/')) return 'starts with "/"';
  if (/[\\\0]/.test(key)) return 'has a "\\" or a NUL character';
  if (key.split('/').some((segment) => segment === '..' || segment === '.')) return 'has a "." or ".." segment';
  if (Buffer.byteLength(key, 'utf8') > 1024) return 'is longer than 1024 bytes';
  return null;
}

/** `prefix`: a template put before the file name (`exports/{organization}/`); empty for none. */
const prefixTemplate = templateSchema('prefix');
const prefixSchema = z
  .string()
  .max(1024)
  .default('')
  .superRefine((template, ctx) => {
    if (template === '') return;
    for (const issue of prefixTemplate.safeParse(template).error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message });
    // The parts the event does not fill: a filled-in value is checked when writing.
    const problem = objectKeyProblem(template.replace(/\{[^{}]*\}/g, 'x'));
    if (problem) ctx.addIssue({ code: 'custom', message: `prefix ${problem}` });
  })
  .describe('Put before the file name: a template such as exports/{organization}/ (end it with "/" for a folder)');

/** A service's URL: no credentials (they are fields of their own, stored encrypted), no query; a path only where `withPath`. */
const endpointSchema = (withPath: boolean) =>
  z.url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' }).superRefine((url, ctx) => {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
    if (parsed.search || parsed.hash) ctx.addIssue({ code: 'custom', message: 'must have no query or fragment' });
    if (!withPath && parsed.pathname !== '' && parsed.pathname !== '/') ctx.addIssue({ code: 'custom', message: 'must have no path' });
  });

export const s3ConfigSchema = z
  .object({
    provider: z.literal('s3'),
    endpoint: endpointSchema(false).optional().describe("An S3-compatible service (MinIO, R2, GCS's XML API); AWS's regional endpoint when absent"),
    region: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a region name such as eu-west-1'),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens'),
    prefix: prefixSchema,
    accessKeyId: z.string().min(1).max(256),
    secretAccessKey: z.string().min(1).max(256),
    forcePathStyle: z.boolean().default(false).describe('Address the bucket in the path (endpoint/bucket/key), as most self-hosted services want'),
    fileName: fileNameSchema,
  })
  .strict();

export const azureConfigSchema = z
  .object({
    provider: z.literal('azure'),
    endpoint: endpointSchema(true)
      .optional()
      .describe('The Blob service URL (Azurite: http://host:port/<accountName>); https://<accountName>.blob.core.windows.net when absent'),
    accountName: z.string().regex(/^[a-z0-9]{3,24}$/, 'must be a storage account name: 3 to 24 lowercase letters and digits'),
    accountKey: z.base64({ message: 'must be the account key as the portal shows it (base64)' }).min(1),
    container: z.string().regex(/^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'must be a container name: 3 to 63 lowercase letters, digits and single hyphens'),
    prefix: prefixSchema,
    fileName: fileNameSchema,
  })
  .strict();

export const filesystemConfigSchema = z
  .object({
    provider: z.literal('filesystem'),
    directory: z.string().superRefine((directory, ctx) => {
      if (!path.isAbsolute(directory) || directory.split(/[/\\]/).includes('..') || directory.includes('\0')) {
        ctx.addIssue({ code: 'custom', message: 'must be an absolute path without ".." segments' });
        return;
      }
      const allowed = storageSettings().directories;
      const resolved = path.resolve(directory);
      if (!allowed.some((root) => resolved === root || resolved.startsWith(root + path.sep)))
        ctx.addIssue({
          code: 'custom',
          message: `must be inside a directory ${STORAGE_DIRECTORIES_SETTING} lists (it lists ${allowed.length === 0 ? 'none' : allowed.join(', ')})`,
        });
    }),
    prefix: prefixSchema,
    fileName: fileNameSchema,
  })
  .strict();

export const storageConfigSchema = z.discriminatedUnion('provider', [s3ConfigSchema, azureConfigSchema, filesystemConfigSchema]);

export type S3StorageConfig = z.output<typeof s3ConfigSchema>;
export type AzureStorageConfig = z.output<typeof azureConfigSchema>;
export type FilesystemStorageConfig = z.output<typeof filesystemConfigSchema>;
/** A storage destination's config: where each delivered file is written. */
export type StorageConfig = z.output<typeof storageConfigSchema>;
