-- DropIndex
DROP INDEX "deliveries_seq_key";

-- AlterTable
ALTER TABLE "deliveries" DROP COLUMN "seq";
