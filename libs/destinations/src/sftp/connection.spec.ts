import { Readable } from 'node:stream';
import SftpClient from 'ssh2-sftp-client';
import { EgressGuard } from '../egress';
import { sftpConfigSchema } from './config';
import { SftpConnection } from './connection';
import { fingerprintOf, HostKeys } from './host-key';

const HOST_KEY = Buffer.from('a host key blob');

jest.mock('ssh2-sftp-client', () =>
  jest.fn().mockImplementation(() => ({
    client: { setMaxListeners: jest.fn() },
    on: jest.fn(),
    connect: jest.fn(async (options: { hostVerifier: (key: Buffer) => boolean; sock: { destroy(): void } }) => {
      options.sock.destroy();
      if (!options.hostVerifier(HOST_KEY)) throw new Error('Host denied (verification failed)');
    }),
    put: jest.fn(async (content: Readable) => void (await content.toArray())),
    chmod: jest.fn(async () => 'ok'),
    mkdir: jest.fn(async () => 'ok'),
    posixRename: jest.fn(async () => 'ok'),
    rename: jest.fn(async () => 'ok'),
    exists: jest.fn(async () => '-'),
    delete: jest.fn(async () => 'ok'),
    end: jest.fn(async () => true),
  })),
);

async function setup() {
  const config = sftpConfigSchema.parse({ host: '127.0.0.1', port: 1, username: 'u', password: 'p', directory: '/in', hostKeySha256: fingerprintOf(HOST_KEY) });
  const sut = await SftpConnection.open(config, { egress: new EgressGuard(['127.0.0.0/8']), connectTimeoutMs: 1_000, destinationId: 'dst_1', hostKeys: new HostKeys() });
  const client = jest.mocked(SftpClient).mock.results.at(-1)!.value as Record<string, jest.Mock>;
  const file = { name: 'a.json', contentType: 'application/json', size: 2, open: async () => Readable.from([Buffer.from('{}')]) };
  return { sut, client, file };
}

describe('an sftp connection renaming a written file to its name', () => {
  it('uses posix-rename when the server has it: one atomic step over an existing file', async () => {
    const { sut, client, file } = await setup();
    expect(await sut.upload(file, '/in', { mode: 0o640, createDirectories: false })).toBe('/in/a.json');
    expect(client.posixRename).toHaveBeenCalledWith(expect.stringMatching(/^\/in\/\.a\.json\.[0-9a-f]{12}\.part$/), '/in/a.json');
    expect(client.rename).not.toHaveBeenCalled();
    expect(client.delete).not.toHaveBeenCalled();
  });

  it('else renames, removing a file of that name first when the rename fails over it, and stops asking for posix-rename', async () => {
    const { sut, client, file } = await setup();
    client.posixRename.mockImplementation(() => Promise.reject(new Error('Server does not support this extended request')));
    client.rename.mockRejectedValueOnce(Object.assign(new Error('_rename: Failure'), { code: 4 }));
    await sut.upload(file, '/in', { mode: 0o640, createDirectories: false });
    expect(client.delete).toHaveBeenCalledWith('/in/a.json', true);
    expect(client.rename).toHaveBeenCalledTimes(2);
    await sut.upload(file, '/in', { mode: 0o640, createDirectories: false });
    expect(client.posixRename).toHaveBeenCalledTimes(1);
    expect(client.rename).toHaveBeenCalledTimes(3);
  });

  it('removes the temporary file when the write fails, and reports the failure', async () => {
    const { sut, client, file } = await setup();
    client.put.mockRejectedValueOnce(Object.assign(new Error('_put: Write stream error: Permission denied'), { code: 3 }));
    await expect(sut.upload(file, '/in', { mode: 0o640, createDirectories: false })).rejects.toMatchObject({
      status: 3,
      message: expect.stringMatching(/^write \/in\/\.a\.json\..*\.part: permission denied$/),
    });
    expect(client.delete).toHaveBeenCalledWith(expect.stringMatching(/\.part$/), true);
    expect(client.posixRename).not.toHaveBeenCalled();
  });
});
