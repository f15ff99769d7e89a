-- CreateIndex
-- For GET /v1/metrics/deliveries: the attempts started in a time range. IF NOT EXISTS lets an
-- operator with a large attempts table build it beforehand without blocking attempt writes:
-- CREATE INDEX CONCURRENTLY "attempts_started_at_idx" ON "attempts"("started_at");
CREATE INDEX IF NOT EXISTS "attempts_started_at_idx" ON "attempts"("started_at");
