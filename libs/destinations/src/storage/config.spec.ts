import { storageConfigSchema } from './config';
import { configureStorage, storageSettings } from './settings';

const s3 = { provider: 's3', region: 'eu-west-1', bucket: 'reports', accessKeyId: 'AKIA1', secretAccessKey: 'secret' };
const issues = (config: unknown) => storageConfigSchema.safeParse(config).error?.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) ?? [];

describe('a storage config', () => {
  const before = storageSettings();
  beforeEach(() => configureStorage({ ...before, directories: ['/srv/exports', '/var/dispatch'] }));
  afterAll(() => configureStorage(before));

  it('takes an S3 bucket, with defaults for the prefix, path style and file name', () => {
    expect(storageConfigSchema.parse(s3)).toEqual({ ...s3, prefix: '', forcePathStyle: false, fileName: '{event.id}.json' });
    expect(issues({ ...s3, endpoint: 'https://minio.example.com:9000', prefix: 'exports/{organization}/', forcePathStyle: true })).toEqual([]);
  });

  it('names each field it refuses, per provider', () => {
    expect(issues({ ...s3, endpoint: 'https://user:pw@s3.example.com/path', region: 'EU', bucket: 'x', extra: 1 }).map((issue) => issue.path)).toEqual(
      expect.arrayContaining(['endpoint', 'region', 'bucket', '']),
    );
    expect(issues({ provider: 'azure', accountName: 'Bad_Name', accountKey: 'not base64!', container: 'a--b' }).map((issue) => issue.path)).toEqual([
      'accountName',
      'accountKey',
      'container',
    ]);
    expect(issues({ provider: 'ftp' })).toEqual([expect.objectContaining({ path: 'provider' })]);
  });

  it('refuses a prefix that leaves its place: a ".." or "." segment, a leading "/", a backslash, an unknown placeholder', () => {
    for (const prefix of ['../up/', 'a/../b/', './x', '/abs/', 'a\\b', '{event.nope}/'])
      expect(issues({ ...s3, prefix })).toEqual([expect.objectContaining({ path: 'prefix' })]);
    expect(issues({ ...s3, prefix: 'a..b/{data.folder}/' })).toEqual([]);
  });

  it('takes a filesystem directory only inside one DISPATCH_STORAGE_DIRECTORIES lists, absolute, without ".."', () => {
    expect(issues({ provider: 'filesystem', directory: '/srv/exports/acme' })).toEqual([]);
    expect(issues({ provider: 'filesystem', directory: '/var/dispatch' })).toEqual([]);
    for (const directory of ['/etc', '/srv/exports-other', '/srv/exports/../../etc', 'relative/dir'])
      expect(issues({ provider: 'filesystem', directory })).toEqual([expect.objectContaining({ path: 'directory' })]);
    configureStorage({ ...before, directories: [] });
    expect(issues({ provider: 'filesystem', directory: '/srv/exports' })).toEqual([
      { path: 'directory', message: 'must be inside a directory DISPATCH_STORAGE_DIRECTORIES lists (it lists none)' },
    ]);
  });
});
