-- CreateTable
CREATE TABLE "Room" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "channelName" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "Presence" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "roomId" INTEGER NOT NULL,
    "channelName" TEXT NOT NULL,
    "userId" TEXT,
    "lastSeen" DATETIME NOT NULL,
    CONSTRAINT "Presence_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "Room_channelName_key" ON "Room"("channelName");

-- CreateIndex
CREATE INDEX "Presence_channelName_idx" ON "Presence"("channelName");

-- CreateIndex
CREATE INDEX "Presence_lastSeen_idx" ON "Presence"("lastSeen");

-- CreateIndex
CREATE UNIQUE INDEX "Presence_roomId_channelName_key" ON "Presence"("roomId", "channelName");
