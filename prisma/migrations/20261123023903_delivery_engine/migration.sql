-- AlterTable
ALTER TABLE "deliveries" ADD COLUMN     "ordering_key" TEXT,
ADD COLUMN     "ordering_seq" BIGINT,
ADD COLUMN     "replay_id" TEXT;

-- CreateTable
CREATE TABLE "ordering_keys" (
    "destination_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "last_seq" BIGINT NOT NULL,

    CONSTRAINT "ordering_keys_pkey" PRIMARY KEY ("destination_id","key")
);

-- CreateTable
CREATE TABLE "replays" (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "filter" JSONB NOT NULL,
    "total" INTEGER NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by" TEXT NOT NULL,

    CONSTRAINT "replays_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_entries" (
    "id" TEXT NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "organization_id" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "details" JSONB NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_entries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "replays_organization_id_created_at_idx" ON "replays"("organization_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "audit_entries_seq_key" ON "audit_entries"("seq");

-- CreateIndex
CREATE INDEX "audit_entries_organization_id_created_at_idx" ON "audit_entries"("organization_id", "created_at");

-- CreateIndex
CREATE INDEX "deliveries_destination_id_ordering_key_ordering_seq_idx" ON "deliveries"("destination_id", "ordering_key", "ordering_seq");

-- CreateIndex
CREATE INDEX "deliveries_replay_id_idx" ON "deliveries"("replay_id");

-- AddForeignKey
ALTER TABLE "ordering_keys" ADD CONSTRAINT "ordering_keys_destination_id_fkey" FOREIGN KEY ("destination_id") REFERENCES "destinations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "replays" ADD CONSTRAINT "replays_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "audit_entries" ADD CONSTRAINT "audit_entries_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
