-- AlterTable
ALTER TABLE "Presence" ADD COLUMN "metadata" TEXT;
ALTER TABLE "Presence" ADD COLUMN "serverId" TEXT;

-- CreateTable
CREATE TABLE "PresenceServer" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "startedAt" DATETIME NOT NULL,
    "lastSeen" DATETIME NOT NULL,
    "expiresAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "PresenceServer_expiresAt_idx" ON "PresenceServer"("expiresAt");

-- CreateIndex
CREATE INDEX "Presence_serverId_idx" ON "Presence"("serverId");
