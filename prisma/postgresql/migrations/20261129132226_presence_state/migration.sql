-- AlterTable
ALTER TABLE "Presence" ADD COLUMN     "metadata" TEXT,
ADD COLUMN     "serverId" TEXT;

-- CreateTable
CREATE TABLE "PresenceServer" (
    "id" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL,
    "lastSeen" TIMESTAMP(3) NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "PresenceServer_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "PresenceServer_expiresAt_idx" ON "PresenceServer"("expiresAt");

-- CreateIndex
CREATE INDEX "Presence_serverId_idx" ON "Presence"("serverId");
