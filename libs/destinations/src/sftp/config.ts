import { utils } from 'ssh2';
import { z } from 'zod';
import { fileNameSchema } from '../files/delivered-file';
import { templateSchema } from '../messages/templates';
import { MASKED } from '../stored-secrets';

/** A host key fingerprint as OpenSSH prints it: `SHA256:` and 43 base64 characters (the prefix and padding optional when given). */
const FINGERPRINT = /^(?:SHA256:)?([A-Za-z0-9+/]{43})=?$/;

/** Why a directory (a template's fixed parts, or one filled from an event) is not one Dispatch writes to, or null. */
export function directoryProblem(directory: string): string | null {
  if (!directory.startsWith('/')) return 'must be an absolute path (starting with "/")';
  if (/[\\\0]/.test(directory)) return 'must not have "\\" or NUL';
  if (directory.split('/').some((segment) => segment === '.' || segment === '..')) return 'must not have "." or ".." segments';
  return null;
}

const KEY_BLOCK = /^\s*(-----BEGIN [A-Z0-9 ]+-----)\s*([A-Za-z0-9+/=\s]+?)\s*(-----END [A-Z0-9 ]+-----)\s*$/;

/**
 * A key given on one line (a form's password field drops line breaks) as SSH reads keys: its
 * BEGIN and END lines, and the base64 between them in lines of 70 characters. Any other text
 * stays as it is.
 */
function withLineBreaks(key: string): string {
  const block = key.includes('\n') ? null : KEY_BLOCK.exec(key);
  if (!block) return key;
  const body = block[2].replace(/\s+/g, '');
  return `${block[1]}\n${body.match(/.{1,70}/g)!.join('\n')}\n${block[3]}\n`;
}

export const sftpConfigSchema = z
  .object({
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._:-]+)$/, 'must be a host name or an IP address (no scheme, port or path)')
      .describe('The SFTP server: a host name or an IP address')
      .meta({ examples: ['sftp.example.com'] }),
    port: z.number().int().min(1).max(65_535).default(22),
    username: z.string().min(1).max(255),
    password: z.string().min(1).max(1024).optional(),
    privateKey: z
      .string()
      .min(1)
      .max(16_384)
      .transform(withLineBreaks)
      .optional()
      .describe('A private key, PEM or OpenSSH text (-----BEGIN … PRIVATE KEY-----)')
      .meta({ title: 'Private key' }),
    passphrase: z.string().min(1).max(1024).optional().describe("The private key's passphrase, when it is encrypted"),
    hostKeySha256: z
      .string()
      .regex(FINGERPRINT, 'must be a SHA-256 host key fingerprint as `ssh-keyscan host | ssh-keygen -lf -` prints it (SHA256: and 43 base64 characters)')
      .transform((fingerprint) => `SHA256:${FINGERPRINT.exec(fingerprint)![1]}`)
      .optional()
      .describe("The server's host key fingerprint (ssh-keyscan host | ssh-keygen -lf -): any other key is refused")
      .meta({ title: 'Host key (SHA-256)', examples: ['SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s'] }),
    trustOnFirstUse: z
      .boolean()
      .default(false)
      .describe('Without hostKeySha256: trust the first host key each worker process sees, and refuse any other after it. Off: an unpinned key is refused')
      .meta({ title: 'Trust on first use' }),
    directory: templateSchema('directory')
      .superRefine((template, context) => {
        const problem = directoryProblem(template.replace(/\{[^{}]*\}/g, 'x'));
        if (problem) context.addIssue({ code: 'custom', message: `directory ${problem}` });
      })
      .describe('The absolute directory files are written to; a template ({event.type}, {data.<path>}…)')
      .meta({ examples: ['/incoming/{event.type}'] }),
    createDirectories: z.boolean().default(true).describe('Create the directory (and its parents) when it does not exist'),
    mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, 'must be an octal file mode such as "0640"')
      .default('0640')
      .describe("The file's permissions, octal"),
    fileName: fileNameSchema,
  })
  .strict()
  .superRefine((config, context) => {
    if (config.password === undefined && config.privateKey === undefined)
      context.addIssue({ code: 'custom', path: ['password'], message: 'give password or privateKey (or both)' });
    // A key sent back as "********" keeps the stored one, which was read when it was stored.
    if (config.privateKey === undefined || config.privateKey === MASKED || config.passphrase === MASKED) return;
    const parsed = utils.parseKey(config.privateKey, config.passphrase);
    const problem = parsed instanceof Error ? parsed.message : parsed.isPrivateKey() ? null : 'it is a public key';
    if (problem) context.addIssue({ code: 'custom', path: ['privateKey'], message: `is not a private key SSH can use: ${problem}` });
  });

/** An SFTP destination's config. */
export type SftpConfig = z.output<typeof sftpConfigSchema>;

/** The host as net.connect takes it (no brackets around an IPv6 literal). */
export function hostOf(config: Pick<SftpConfig, 'host'>): string {
  return config.host.replace(/^\[(.*)\]$/, '$1');
}
