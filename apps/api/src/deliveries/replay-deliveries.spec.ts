import type { Caller, OperatorActions, SelectionPreview } from '@dispatch/db';
import type { DeliveryQueues } from '@dispatch/queue';
import type { AuditTrail } from '../audit/audit-trail';
import { deliverySelectionSchema } from './delivery-selection.schema';
import { ReplayDeliveries } from './replay-deliveries';

// The use case takes only types from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({}));

const CALLER = { organizationId: 'org_A', apiKeyId: 'key_1', role: 'admin' } as unknown as Caller;
const PREVIEW: SelectionPreview = { count: 3, bytes: 420, destinations: [{ id: 'dst_1', name: 'orders', count: 3 }] };

function setup() {
  const mocks = {
    deliveries: {
      previewSelected: jest.fn(async () => PREVIEW),
      markForReplay: jest.fn(async () => [{ id: 'dlv_1', destinationId: 'dst_1', attemptCount: 1, priority: 0, retryPolicy: { maxAttempts: 3 } }]),
    },
    queues: { requeue: jest.fn(async () => undefined) },
    audit: { record: jest.fn(async () => undefined) },
  };
  const sut = new ReplayDeliveries(mocks.deliveries as unknown as OperatorActions, mocks.queues as unknown as DeliveryQueues, mocks.audit as unknown as AuditTrail);
  return { sut, mocks };
}

const input = (body: Record<string, unknown>) => deliverySelectionSchema.parse(body);

describe('ReplayDeliveries', () => {
  it('answers a dry run with what the replay would touch, and marks, queues and records nothing', async () => {
    const { sut, mocks } = setup();
    await expect(sut.execute(CALLER, input({ failureCategory: 'receiver_5xx', dryRun: true }))).resolves.toEqual(PREVIEW);
    expect(mocks.deliveries.previewSelected).toHaveBeenCalledWith(
      expect.objectContaining({ organizationId: 'org_A', statuses: ['failed'], failureCategories: ['receiver_5xx'] }),
    );
    expect(mocks.deliveries.markForReplay).not.toHaveBeenCalled();
    expect(mocks.queues.requeue).not.toHaveBeenCalled();
    expect(mocks.audit.record).not.toHaveBeenCalled();
  });

  it('replays the dead letters of the categories given, and keeps them in the replay record and the audit trail', async () => {
    const { sut, mocks } = setup();
    const answer = await sut.execute(CALLER, input({ failureCategory: ['timeout_or_network', 'egress_refused'] }));
    expect(answer).toEqual({ count: 1, replayId: expect.stringMatching(/^rpl_/) });
    const [selection, replay] = mocks.deliveries.markForReplay.mock.calls[0] as unknown as [Record<string, unknown>, { filter: Record<string, unknown> }];
    expect(selection).toMatchObject({ statuses: ['failed'], failureCategories: ['timeout_or_network', 'egress_refused'] });
    expect(replay.filter).toEqual({ statuses: ['failed'], failureCategories: ['timeout_or_network', 'egress_refused'] });
    expect(mocks.audit.record).toHaveBeenCalledWith(
      CALLER,
      'deliveries.replay',
      expect.any(String),
      expect.objectContaining({ failureCategories: ['timeout_or_network', 'egress_refused'], count: 1 }),
    );
  });

  it('selects without a category when none is given', async () => {
    const { sut, mocks } = setup();
    await sut.execute(CALLER, input({ dryRun: true }));
    expect(mocks.deliveries.previewSelected).toHaveBeenCalledWith(expect.objectContaining({ failureCategories: undefined }));
  });
});

describe('deliverySelectionSchema.failureCategory', () => {
  it.each([
    ['an unknown category', 'mystery'],
    ['an unknown category in a list', ['receiver_4xx', 'mystery']],
    ['an empty list', []],
  ])('refuses %s, naming the field', (_name, failureCategory) => {
    const parsed = deliverySelectionSchema.safeParse({ failureCategory });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path[0])).toEqual(['failureCategory']);
  });
});
