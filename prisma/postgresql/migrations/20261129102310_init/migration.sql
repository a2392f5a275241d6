-- CreateTable
CREATE TABLE "Room" (
    "id" SERIAL NOT NULL,
    "channelName" TEXT NOT NULL,

    CONSTRAINT "Room_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Presence" (
    "id" SERIAL NOT NULL,
    "roomId" INTEGER NOT NULL,
    "channelName" TEXT NOT NULL,
    "userId" TEXT,
    "lastSeen" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Presence_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Room_channelName_key" ON "Room"("channelName");

-- CreateIndex
CREATE INDEX "Presence_channelName_idx" ON "Presence"("channelName");

-- CreateIndex
CREATE INDEX "Presence_lastSeen_idx" ON "Presence"("lastSeen");

-- CreateIndex
CREATE UNIQUE INDEX "Presence_roomId_channelName_key" ON "Presence"("roomId", "channelName");

-- AddForeignKey
ALTER TABLE "Presence" ADD CONSTRAINT "Presence_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room"("id") ON DELETE CASCADE ON UPDATE CASCADE;
