-- CreateEnum
CREATE TYPE "FailureCategory" AS ENUM ('receiver_4xx', 'receiver_5xx', 'timeout_or_network', 'egress_refused', 'configuration');

-- AlterTable
ALTER TABLE "events" ADD COLUMN     "trace_id" TEXT;

-- AlterTable
ALTER TABLE "deliveries" ADD COLUMN     "failure_category" "FailureCategory";

-- The two indexes are partial (schema.prisma cannot say so; it keeps the plain @@index of each
-- name): GET /v1/events?correlationId= only looks for events that have one, and the dead letter
-- queries (categories, replay by category) only for failed deliveries, so an event without a
-- correlation id and a delivery that is delivered (almost all of them) stay out of them.

-- CreateIndex
CREATE INDEX "events_organization_id_correlation_id_seq_idx" ON "events"("organization_id", "correlation_id", "seq") WHERE "correlation_id" IS NOT NULL;

-- CreateIndex
CREATE INDEX "deliveries_organization_id_failure_category_created_at_idx" ON "deliveries"("organization_id", "failure_category", "created_at") WHERE "status" = 'failed';

-- Deliveries already failed get the category of their last attempt, by the rules the worker
-- follows from now on (libs/domain/src/failure-category.ts): a receiver's 4xx or 5xx status; the
-- egress guard's refusal; a redirect, or a failure at once (permanent, gone) without such a
-- status: configuration; attempts run out (the reason ends "gave up after N attempts") or no
-- attempt at all: timeout or network.
UPDATE "deliveries" AS d
SET "failure_category" = (
  CASE
    WHEN a."status_code" BETWEEN 400 AND 499 THEN 'receiver_4xx'
    WHEN a."status_code" BETWEEN 500 AND 599 THEN 'receiver_5xx'
    WHEN a."error" ~ '(EGRESS_NOT_ALLOWED|is not an allowed address|resolves to an address that is not allowed)' THEN 'egress_refused'
    WHEN a."status_code" BETWEEN 300 AND 399 THEN 'configuration'
    WHEN a."outcome" = 'gone' THEN 'configuration'
    WHEN a."outcome" = 'failed' AND coalesce(d."last_error", '') !~ '; gave up after [0-9]+ attempts?$' THEN 'configuration'
    ELSE 'timeout_or_network'
  END
)::"FailureCategory"
FROM "deliveries" AS f
LEFT JOIN LATERAL (
  SELECT "status_code", "error", "outcome" FROM "attempts" WHERE "delivery_id" = f."id" ORDER BY "number" DESC LIMIT 1
) AS a ON true
WHERE f."id" = d."id" AND f."status" = 'failed';
