-- CreateTable
CREATE TABLE "download_links" (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "delivery_id" TEXT NOT NULL,
    "file_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "content_type" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "max_downloads" INTEGER,
    "downloads" INTEGER NOT NULL DEFAULT 0,
    "file_removed_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "download_links_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "downloads" (
    "id" BIGSERIAL NOT NULL,
    "link_id" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ip" TEXT NOT NULL,
    "user_agent" TEXT,

    CONSTRAINT "downloads_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "download_links_delivery_id_idx" ON "download_links"("delivery_id");

-- CreateIndex
CREATE INDEX "download_links_expires_at_idx" ON "download_links"("expires_at");

-- CreateIndex
CREATE INDEX "downloads_link_id_id_idx" ON "downloads"("link_id", "id");
