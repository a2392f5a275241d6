#!/bin/sh
# Stands in for Prisma's native schema engine, which `prisma generate` never runs
# but insists exists (its download is impossible offline).
echo "schema engine stub: not available offline; use presence-admin migrate" >&2
exit 1
