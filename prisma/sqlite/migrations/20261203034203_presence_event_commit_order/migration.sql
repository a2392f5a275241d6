-- AlterTable
ALTER TABLE "PresenceEvent" ADD COLUMN "txid" BIGINT;

-- CreateIndex
CREATE INDEX "PresenceEvent_txid_id_idx" ON "PresenceEvent"("txid", "id");
