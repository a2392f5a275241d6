-- CreateTable
CREATE TABLE "PresenceEvent" (
    "id" SERIAL NOT NULL,
    "roomId" INTEGER NOT NULL,
    "origin" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PresenceEvent_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "PresenceEvent_createdAt_idx" ON "PresenceEvent"("createdAt");
