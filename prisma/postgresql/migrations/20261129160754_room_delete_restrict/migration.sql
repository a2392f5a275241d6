-- DropForeignKey
ALTER TABLE "Presence" DROP CONSTRAINT "Presence_roomId_fkey";

-- AddForeignKey
ALTER TABLE "Presence" ADD CONSTRAINT "Presence_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
