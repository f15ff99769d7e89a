import { DestinationConnections } from './destination-connections';

type FakeConnection = { id: number; closed: boolean };

function setup() {
  let opened = 0;
  const mocks = {
    shut: jest.fn(async (connection: FakeConnection) => {
      connection.closed = true;
    }),
    open: jest.fn(async (): Promise<FakeConnection> => ({ id: ++opened, closed: false })),
  };
  return { sut: new DestinationConnections<FakeConnection>(mocks.shut), mocks };
}

describe("a broker kind's connections, one per destination", () => {
  it('opens one connection per destination, shared by attempts that arrive while it opens, and reused after', async () => {
    const { sut, mocks } = setup();
    const [first, second] = await Promise.all([sut.get('dst_1', { url: 'a' }, mocks.open), sut.get('dst_1', { url: 'a' }, mocks.open)]);
    expect(first).toBe(second);
    expect(await sut.get('dst_1', { url: 'a' }, mocks.open)).toBe(first);
    expect((await sut.get('dst_2', { url: 'a' }, mocks.open)).id).toBe(2);
    expect(mocks.open).toHaveBeenCalledTimes(2);
  });

  it('closes the old connection and opens another when the config changes', async () => {
    const { sut, mocks } = setup();
    const old = await sut.get('dst_1', { url: 'a' }, mocks.open);
    const next = await sut.get('dst_1', { url: 'b' }, mocks.open);
    expect(old.closed).toBe(true);
    expect(next).not.toBe(old);
  });

  it('closes on release, drop and close, and the next attempt opens a new one', async () => {
    const { sut, mocks } = setup();
    const first = await sut.get('dst_1', {}, mocks.open);
    await sut.release('dst_1');
    expect(first.closed).toBe(true);
    expect(sut.size).toBe(0);
    const second = await sut.get('dst_1', {}, mocks.open);
    await sut.drop('dst_1');
    expect(second.closed).toBe(true);
    const third = await sut.get('dst_1', {}, mocks.open);
    const other = await sut.get('dst_2', {}, mocks.open);
    await sut.close();
    expect([third.closed, other.closed]).toEqual([true, true]);
    await sut.release('dst_unknown');
  });

  it('drops a connection found broken only while it is the one held: a new one another attempt opened stays', async () => {
    const { sut, mocks } = setup();
    const broken = await sut.get('dst_1', {}, mocks.open);
    await sut.drop('dst_1', broken);
    expect(broken.closed).toBe(true);
    const fresh = await sut.get('dst_1', {}, mocks.open);
    // A second attempt that also held the broken one drops it late.
    await sut.drop('dst_1', broken);
    expect(fresh.closed).toBe(false);
    expect(await sut.get('dst_1', {}, mocks.open)).toBe(fresh);
    expect(mocks.shut).toHaveBeenCalledTimes(2);
  });

  it('opens another when the one held was lost while idle, closing the lost one', async () => {
    const lost = new Set<FakeConnection>();
    const mocks = {
      shut: jest.fn(async (connection: FakeConnection) => {
        connection.closed = true;
      }),
    };
    let opened = 0;
    const open = async (): Promise<FakeConnection> => ({ id: ++opened, closed: false });
    const sut = new DestinationConnections<FakeConnection>(mocks.shut, (connection) => lost.has(connection));
    const first = await sut.get('dst_1', {}, open);
    expect(await sut.get('dst_1', {}, open)).toBe(first);
    lost.add(first);
    const second = await sut.get('dst_1', {}, open);
    expect(second.id).toBe(2);
    expect(first.closed).toBe(true);
    expect(await sut.get('dst_1', {}, open)).toBe(second);
  });

  it('keeps no failed open: the next attempt tries again', async () => {
    const { sut, mocks } = setup();
    mocks.open.mockRejectedValueOnce(new Error('ECONNREFUSED'));
    await expect(sut.get('dst_1', {}, mocks.open)).rejects.toThrow('ECONNREFUSED');
    expect(sut.size).toBe(0);
    expect((await sut.get('dst_1', {}, mocks.open)).id).toBe(1);
  });
});
