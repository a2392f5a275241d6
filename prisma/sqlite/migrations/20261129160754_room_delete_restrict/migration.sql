-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Presence" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "roomId" INTEGER NOT NULL,
    "channelName" TEXT NOT NULL,
    "userId" TEXT,
    "lastSeen" DATETIME NOT NULL,
    "metadata" TEXT,
    "serverId" TEXT,
    CONSTRAINT "Presence_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Presence" ("channelName", "id", "lastSeen", "metadata", "roomId", "serverId", "userId") SELECT "channelName", "id", "lastSeen", "metadata", "roomId", "serverId", "userId" FROM "Presence";
DROP TABLE "Presence";
ALTER TABLE "new_Presence" RENAME TO "Presence";
CREATE INDEX "Presence_channelName_idx" ON "Presence"("channelName");
CREATE INDEX "Presence_lastSeen_idx" ON "Presence"("lastSeen");
CREATE INDEX "Presence_serverId_idx" ON "Presence"("serverId");
CREATE UNIQUE INDEX "Presence_roomId_channelName_key" ON "Presence"("roomId", "channelName");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
