-- Destination kinds come from the registry in libs/destinations: the column holds its name as
-- text, so adding a kind needs no migration. Existing values are kept.
ALTER TABLE "destinations" ALTER COLUMN "kind" TYPE TEXT USING "kind"::text;
DROP TYPE "DestinationKind";

-- Every attempt says what it meant for its delivery, whatever the kind.
CREATE TYPE "AttemptOutcome" AS ENUM ('delivered', 'retry', 'failed', 'gone');
ALTER TABLE "attempts" ADD COLUMN "outcome" "AttemptOutcome";

-- Attempts recorded before: a 2xx was delivered, a 410 gone, the last attempt of a dead letter
-- failed, any other a retry.
UPDATE "attempts" a
SET "outcome" = CASE
  WHEN a."status_code" BETWEEN 200 AND 299 THEN 'delivered'::"AttemptOutcome"
  WHEN a."status_code" = 410 THEN 'gone'::"AttemptOutcome"
  WHEN d."status" = 'failed' AND a."number" = d."attempt_count" THEN 'failed'::"AttemptOutcome"
  ELSE 'retry'::"AttemptOutcome"
END
FROM "deliveries" d
WHERE d."id" = a."delivery_id";
UPDATE "attempts" SET "outcome" = 'retry' WHERE "outcome" IS NULL;

ALTER TABLE "attempts" ALTER COLUMN "outcome" SET NOT NULL;
