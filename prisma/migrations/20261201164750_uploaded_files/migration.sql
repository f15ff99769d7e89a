-- CreateTable
CREATE TABLE "files" (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "files_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "files_organization_id_created_at_idx" ON "files"("organization_id", "created_at");

-- Retention keeps a file while a kept event names it (data.fileId): this index finds those
-- events. Partial, so events that name no file (almost all of them) never enter it.
-- (schema.prisma cannot express an index on an expression.)
CREATE INDEX "events_organization_id_file_id_idx" ON "events"("organization_id", ("data"->>'fileId')) WHERE "data" ? 'fileId';
