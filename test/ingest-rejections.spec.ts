import { IngestRejectionRepository, NewIngestRejection } from '@dispatch/db';
import { openRepositoryFixture, RepositoryFixture } from './repositories';

const DAY_MS = 86_400_000;

describe('rejected ingest messages in the database', () => {
  let fixture: RepositoryFixture;
  let sut: IngestRejectionRepository;

  beforeAll(async () => {
    fixture = await openRepositoryFixture('rejections');
    sut = new IngestRejectionRepository(fixture.database);
  });

  afterAll(async () => {
    await fixture.close();
  });

  const rejection = (streamSeq: number, organizationId: string | null): NewIngestRejection => ({
    organizationId,
    stream: 'DISPATCH_INGEST',
    subject: `ingest.${organizationId ?? 'org_nobody'}.orders`,
    streamSeq,
    body: '{"type":',
    bodyBytes: 8,
    headers: { 'Nats-Msg-Id': ['m-1'] },
    reason: 'bad JSON: Unexpected end of JSON input',
    deliveries: 1,
    receivedAt: new Date('2026-03-01T12:00:00.000Z'),
  });
  const sequences = (rows: { streamSeq: bigint }[]) => rows.map((row) => Number(row.streamSeq));

  it('records a message once, however often it is recorded, and lists them newest first by organization or all', async () => {
    const { organizationId } = fixture;
    await sut.record([rejection(1, organizationId), rejection(2, null)]);
    await sut.record([rejection(1, organizationId), rejection(3, organizationId)]);
    expect(sequences(await sut.list('all', 10))).toEqual([3, 2, 1]);
    const own = await sut.list({ organizationId }, 1);
    expect(sequences(own)).toEqual([3]);
    expect(sequences(await sut.list({ organizationId }, 10, own[0].seq))).toEqual([1]);
    expect((await sut.list('all', 10))[2]).toMatchObject({
      subject: `ingest.${organizationId}.orders`,
      headers: { 'Nats-Msg-Id': ['m-1'] },
      reason: rejection(1, null).reason,
    });
  });

  it('removes rejections made before a cutoff, a bounded batch at a time, and keeps the newer ones', async () => {
    await fixture.database.sql(`DELETE FROM ingest_rejections`, []);
    await sut.record([10, 11, 12, 13].map((seq) => rejection(seq, fixture.organizationId)));
    const old = new Date(Date.now() - 40 * DAY_MS).toISOString();
    await fixture.database.sql(`UPDATE ingest_rejections SET rejected_at = $1 WHERE stream_seq IN (10, 11, 12)`, [old]);
    const cutoff = new Date(Date.now() - 30 * DAY_MS);
    expect(await sut.removeOlderThan(cutoff, 2)).toBe(2);
    expect(await sut.removeOlderThan(cutoff, 2)).toBe(1);
    expect(await sut.removeOlderThan(cutoff, 2)).toBe(0);
    expect(sequences(await sut.list('all', 10))).toEqual([13]);
  });
});
