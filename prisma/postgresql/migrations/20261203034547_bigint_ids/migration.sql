-- Room, Presence and PresenceEvent ids become 64-bit, their sequences too. (Prisma's engine writes
-- `SET DATA TYPE BIGSERIAL` here, which PostgreSQL rejects: BIGSERIAL is not a type.)

-- DropForeignKey
ALTER TABLE "Presence" DROP CONSTRAINT "Presence_roomId_fkey";

-- AlterTable
ALTER TABLE "Room" ALTER COLUMN "id" SET DATA TYPE BIGINT;
ALTER SEQUENCE "Room_id_seq" AS BIGINT;

-- AlterTable
ALTER TABLE "Presence" ALTER COLUMN "id" SET DATA TYPE BIGINT,
ALTER COLUMN "roomId" SET DATA TYPE BIGINT;
ALTER SEQUENCE "Presence_id_seq" AS BIGINT;

-- AlterTable
ALTER TABLE "PresenceEvent" ALTER COLUMN "id" SET DATA TYPE BIGINT,
ALTER COLUMN "roomId" SET DATA TYPE BIGINT;
ALTER SEQUENCE "PresenceEvent_id_seq" AS BIGINT;

-- AddForeignKey
ALTER TABLE "Presence" ADD CONSTRAINT "Presence_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
