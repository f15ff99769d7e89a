-- Indexes of the deliveries table that only open, dead-letter and cancelled deliveries need
-- become partial, so a delivery that is delivered (almost all of them) leaves them: each
-- delivery is inserted once and updated twice (claimed, settled), and every update that
-- changes its status writes a new entry in every index of the table. Queries that use these
-- indexes all name an open status, an ordering key or a replay, which the predicates imply.
-- (schema.prisma cannot express a partial index; it keeps the plain @@index of each name.)

DROP INDEX "deliveries_destination_id_status_idx";
CREATE INDEX "deliveries_destination_id_status_idx" ON "deliveries"("destination_id", "status") WHERE "status" <> 'delivered';

DROP INDEX "deliveries_status_next_attempt_at_idx";
CREATE INDEX "deliveries_status_next_attempt_at_idx" ON "deliveries"("status", "next_attempt_at") WHERE "status" <> 'delivered';

DROP INDEX "deliveries_destination_id_ordering_key_ordering_seq_idx";
CREATE INDEX "deliveries_destination_id_ordering_key_ordering_seq_idx" ON "deliveries"("destination_id", "ordering_key", "ordering_seq") WHERE "ordering_key" IS NOT NULL;

DROP INDEX "deliveries_replay_id_idx";
CREATE INDEX "deliveries_replay_id_idx" ON "deliveries"("replay_id") WHERE "replay_id" IS NOT NULL;
