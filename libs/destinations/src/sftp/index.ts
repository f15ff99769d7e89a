import type { DestinationKind } from '../kind';
import { hostOf, SftpConfig, sftpConfigSchema } from './config';
import { SftpSender } from './send';

export * from './config';
export * from './host-key';
export * from './send';
export * from './verdict';

/** Each event's file written to a directory on an SFTP server, under a temporary name and then renamed. */
export const sftpKind: DestinationKind<SftpConfig> = {
  kind: 'sftp',
  configSchema: sftpConfigSchema,
  secretFields: ['password', 'privateKey', 'passphrase'],
  signsWithSecret: false,
  endpoints: (config) => [{ path: 'host', host: hostOf(config) }],
  createSender: (deps) => new SftpSender(deps),
};
