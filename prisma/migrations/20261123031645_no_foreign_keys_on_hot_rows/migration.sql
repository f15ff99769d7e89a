-- DropForeignKey
ALTER TABLE "api_keys" DROP CONSTRAINT "api_keys_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "destinations" DROP CONSTRAINT "destinations_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "events" DROP CONSTRAINT "events_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "deliveries" DROP CONSTRAINT "deliveries_organization_id_event_id_fkey";

-- DropForeignKey
ALTER TABLE "deliveries" DROP CONSTRAINT "deliveries_destination_id_fkey";

-- DropForeignKey
ALTER TABLE "attempts" DROP CONSTRAINT "attempts_delivery_id_fkey";

-- DropForeignKey
ALTER TABLE "ordering_keys" DROP CONSTRAINT "ordering_keys_destination_id_fkey";

-- DropForeignKey
ALTER TABLE "replays" DROP CONSTRAINT "replays_organization_id_fkey";

-- DropForeignKey
ALTER TABLE "audit_entries" DROP CONSTRAINT "audit_entries_organization_id_fkey";

-- DropIndex
DROP INDEX "deliveries_event_id_destination_id_organization_id_key";

-- CreateIndex
CREATE INDEX "api_keys_organization_id_idx" ON "api_keys"("organization_id");

-- CreateIndex
CREATE UNIQUE INDEX "deliveries_organization_id_event_id_destination_id_key" ON "deliveries"("organization_id", "event_id", "destination_id");
