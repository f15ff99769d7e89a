-- CreateEnum
CREATE TYPE "AlertCondition" AS ENUM ('failure_rate', 'consecutive_failures', 'backlog', 'response_time', 'circuit_open');

-- CreateEnum
CREATE TYPE "AlertStatus" AS ENUM ('open', 'resolved');

-- CreateTable
CREATE TABLE "alert_settings" (
    "organization_id" TEXT NOT NULL,
    "settings" JSONB NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "alert_settings_pkey" PRIMARY KEY ("organization_id")
);

-- CreateTable
CREATE TABLE "alerts" (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "destination_id" TEXT NOT NULL,
    "condition" "AlertCondition" NOT NULL,
    "status" "AlertStatus" NOT NULL DEFAULT 'open',
    "opened_at" TIMESTAMP(3) NOT NULL,
    "resolved_at" TIMESTAMP(3),
    "escalation_level" INTEGER NOT NULL DEFAULT 0,
    "escalated_at" TIMESTAMP(3),
    "value" DOUBLE PRECISION NOT NULL,
    "threshold" DOUBLE PRECISION NOT NULL,
    "message" TEXT NOT NULL,
    "acknowledged_at" TIMESTAMP(3),
    "acknowledged_by" TEXT,
    "announced" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "alerts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "alerts_organization_id_opened_at_idx" ON "alerts"("organization_id", "opened_at");

-- CreateIndex
CREATE INDEX "alerts_destination_id_condition_resolved_at_idx" ON "alerts"("destination_id", "condition", "resolved_at");

-- At most one open alert per destination and condition; also how the open alerts are found.
CREATE UNIQUE INDEX "alerts_one_open" ON "alerts"("destination_id", "condition") WHERE "status" = 'open';

-- The alerts whose latest change has no operational event yet (written again until it has).
CREATE INDEX "alerts_unannounced" ON "alerts"("id") WHERE NOT "announced";
