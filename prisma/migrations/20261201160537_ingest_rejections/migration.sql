-- CreateTable
CREATE TABLE "ingest_rejections" (
    "id" TEXT NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "organization_id" TEXT,
    "stream" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "stream_seq" BIGINT NOT NULL,
    "body" TEXT NOT NULL,
    "body_bytes" INTEGER NOT NULL,
    "headers" JSONB NOT NULL,
    "reason" TEXT NOT NULL,
    "deliveries" INTEGER NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL,
    "rejected_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ingest_rejections_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ingest_rejections_seq_key" ON "ingest_rejections"("seq");

-- CreateIndex
CREATE INDEX "ingest_rejections_organization_id_seq_idx" ON "ingest_rejections"("organization_id", "seq");

-- CreateIndex
CREATE INDEX "ingest_rejections_rejected_at_idx" ON "ingest_rejections"("rejected_at");

-- CreateIndex
CREATE UNIQUE INDEX "ingest_rejections_stream_stream_seq_received_at_key" ON "ingest_rejections"("stream", "stream_seq", "received_at");
