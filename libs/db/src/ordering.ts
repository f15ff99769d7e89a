import type { Database, DeliveryStatus } from './prisma';

/*
 * The order of the deliveries that share a destination and an ordering key (`ordering_seq`,
 * numbered at ingest). The worker asks before every attempt of an ordered destination and after
 * it settles one; cancelling asks too. One text per statement name, here only: a prepared
 * statement's name must always go with the same text on a connection.
 */

/**
 * For a delivery with an ordering key: the earliest delivery of the same destination and key
 * that came before it and is not settled yet (it must go first), or null.
 */
export async function orderingBlocker(database: Database, id: string): Promise<{ id: string; status: DeliveryStatus; nextAttemptAt: Date | null } | null> {
  // Named: the gate of every job of an ordered destination runs it. The self-join follows
  // (destination_id, ordering_key, ordering_seq), the columns of the index made for it.
  const rows = await database.sql<{ id: string; status: DeliveryStatus; next_attempt_at: Date | null }>(
    `SELECT p.id, p.status, p.next_attempt_at FROM deliveries d
     JOIN deliveries p ON p.destination_id = d.destination_id AND p.ordering_key = d.ordering_key AND p.ordering_seq < d.ordering_seq
     WHERE d.id = $1 AND d.ordering_key IS NOT NULL AND p.status IN ('pending', 'delivering', 'retrying')
     ORDER BY p.ordering_seq ASC LIMIT 1`,
    [id],
    'ordering-blocker',
  );
  const row = rows[0];
  return row ? { id: row.id, status: row.status, nextAttemptAt: row.next_attempt_at } : null;
}

/** The next open delivery after this one in its destination's order for its key, or null. */
export async function nextInOrder(database: Database, id: string): Promise<{ id: string; destinationId: string } | null> {
  // Named: run after every settled attempt of an ordered destination, to wake the next one.
  const rows = await database.sql<{ id: string; destination_id: string }>(
    `SELECT s.id, s.destination_id FROM deliveries d
     JOIN deliveries s ON s.destination_id = d.destination_id AND s.ordering_key = d.ordering_key AND s.ordering_seq > d.ordering_seq
     WHERE d.id = $1 AND d.ordering_key IS NOT NULL AND s.status IN ('pending', 'retrying')
     ORDER BY s.ordering_seq ASC LIMIT 1`,
    [id],
    'next-in-order',
  );
  return rows[0] ? { id: rows[0].id, destinationId: rows[0].destination_id } : null;
}
