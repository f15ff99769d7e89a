-- Destination health: a row per destination kept by the worker as it records attempts (created on the
-- first attempt after this migration; a destination without one reads as never attempted), and when a
-- destination was disabled. Destinations disabled before this migration get their last change as that time.
-- AlterTable
ALTER TABLE "destinations" ADD COLUMN     "disabled_at" TIMESTAMP(3);
UPDATE "destinations" SET "disabled_at" = "updated_at" WHERE NOT "enabled";

-- CreateTable
CREATE TABLE "destination_health" (
    "destination_id" TEXT NOT NULL,
    "consecutive_failures" INTEGER NOT NULL DEFAULT 0,
    "total_deliveries" BIGINT NOT NULL DEFAULT 0,
    "total_failures" BIGINT NOT NULL DEFAULT 0,
    "total_response_ms" BIGINT NOT NULL DEFAULT 0,
    "failing_since" TIMESTAMP(3),
    "last_success_at" TIMESTAMP(3),
    "last_failure_at" TIMESTAMP(3),
    "last_check_at" TIMESTAMP(3),
    "window_started_at" TIMESTAMP(3),
    "window_attempts" INTEGER NOT NULL DEFAULT 0,
    "window_response_ms" BIGINT NOT NULL DEFAULT 0,
    "previous_window_attempts" INTEGER NOT NULL DEFAULT 0,
    "previous_window_response_ms" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "destination_health_pkey" PRIMARY KEY ("destination_id")
);
