import type { DestinationRepository, RoutableDestination } from '@dispatch/db';
import { RoutingTable } from './routing-table';

jest.mock('@dispatch/db', () => ({}));

const ORG = 'org_a';

function destination(id: string, overrides: Partial<RoutableDestination> = {}): RoutableDestination {
  return { id, eventTypes: ['*'], enabled: true, ordering: 'none', maxAttempts: 8, ...overrides };
}

/** A routing table over an in-memory organization of `count` destinations, whose reads are counted. */
function setup(count: number) {
  const stored = new Map(Array.from({ length: count }, (_, i) => [`dst_${i}`, destination(`dst_${i}`)]));
  const mocks = {
    stored,
    destinations: {
      listEnabled: jest.fn(async (_organizationId: string) => [...stored.values()].filter((row) => row.enabled)),
      findRoutable: jest.fn(async (_organizationId: string, ids: string[]) => ids.flatMap((id) => (stored.has(id) ? [stored.get(id) as RoutableDestination] : []))),
    },
  };
  const sut = new RoutingTable(mocks.destinations as unknown as DestinationRepository);
  return { sut, mocks };
}

const ids = (destinations: RoutableDestination[]) => destinations.map((row) => row.id).sort();

describe('RoutingTable', () => {
  it('reads an organization whole once, then a change through this process reads only the destination changed', async () => {
    const { sut, mocks } = setup(1_000);
    expect(await sut.enabled(ORG)).toHaveLength(1_000);

    mocks.stored.set('dst_new', destination('dst_new'));
    sut.changed(ORG, 'dst_new');
    mocks.stored.set('dst_3', destination('dst_3', { enabled: false }));
    sut.changed(ORG, 'dst_3');
    mocks.stored.delete('dst_7');
    sut.changed(ORG, 'dst_7');
    mocks.stored.set('dst_9', destination('dst_9', { eventTypes: ['order.*'] }));
    sut.changed(ORG, 'dst_9');

    const routed = await sut.enabled(ORG);
    expect(ids(routed)).toEqual(ids([...mocks.stored.values()].filter((row) => row.enabled)));
    expect(routed.find((row) => row.id === 'dst_9')?.eventTypes).toEqual(['order.*']);
    expect(mocks.destinations.listEnabled).toHaveBeenCalledTimes(1);
    expect(mocks.destinations.findRoutable.mock.calls).toEqual([
      [ORG, ['dst_new']],
      [ORG, ['dst_3']],
      [ORG, ['dst_7']],
      [ORG, ['dst_9']],
    ]);
  });

  it('reads nothing for a change to an organization it has not read yet', async () => {
    const { sut, mocks } = setup(3);
    sut.changed(ORG, 'dst_1');
    expect(mocks.destinations.findRoutable).not.toHaveBeenCalled();
    expect(await sut.enabled(ORG)).toHaveLength(3);
  });

  it('reads the organization whole again when reading a changed destination failed', async () => {
    const { sut, mocks } = setup(3);
    await sut.enabled(ORG);
    mocks.destinations.findRoutable.mockRejectedValueOnce(new Error('connection timeout'));
    sut.changed(ORG, 'dst_1');
    await expect(sut.enabled(ORG)).rejects.toThrow('connection timeout');
    expect(await sut.enabled(ORG)).toHaveLength(3);
    expect(mocks.destinations.listEnabled).toHaveBeenCalledTimes(2);
  });
});
