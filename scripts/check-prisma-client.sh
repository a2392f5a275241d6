#!/bin/sh
# Checks that prisma-presence works with an application's PrismaClient of another 7.x version:
# installs @prisma/client, prisma and @prisma/adapter-pg at VERSION in a scratch app, generates
# a client for a schema holding the shipped models, and runs createPresence({ prisma, provider })
# against the PostgreSQL database at URL. Needs `npm run build` first and the npm registry.
#   scripts/check-prisma-client.sh 7.0.0 postgresql://postgres@127.0.0.1:5432/app
set -eu
VERSION=$1
URL=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
APP=$(mktemp -d)
trap 'rm -rf "$APP"' EXIT
cd "$APP"
echo '{ "name": "client-check", "private": true, "type": "module" }' > package.json
npm install --ignore-scripts --no-audit --no-fund "@prisma/client@$VERSION" "prisma@$VERSION" "@prisma/adapter-pg@$VERSION" pg@8.23.1 >/dev/null
mkdir -p prisma/schema
cp "$ROOT/prisma/models.prisma" prisma/schema/presence.prisma
cat > prisma/schema/schema.prisma <<'SCHEMA'
generator client {
  provider            = "prisma-client"
  output              = "../../generated"
  importFileExtension = "js"
}

datasource db {
  provider = "postgresql"
}
SCHEMA
echo "import { defineConfig } from 'prisma/config'; export default defineConfig({ schema: 'prisma/schema' });" > prisma.config.ts
PRISMA_SCHEMA_ENGINE_BINARY="$ROOT/scripts/schema-engine-stub.sh" npx prisma generate >/dev/null
cat > check.ts <<CHECK
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.js';
import { createPresence, migrate } from '$ROOT/dist/index.js';

await migrate({ databaseUrl: '$URL' });
const adapter = new PrismaPg({ connectionString: '$URL' });
const prisma = new PrismaClient({ adapter });
const presence = createPresence({ prisma, provider: adapter.provider });
await presence.rooms.add('client-check', 'chan.1', 'olga', { metadata: { page: 1 } });
await presence.presences.update('chan.1', { page: 2 });
const [seen] = await presence.rooms.getPresences('client-check');
await presence.rooms.remove('client-check', 'chan.1');
await presence.rooms.pruneRooms();
await presence.close();
await prisma.\$disconnect();
if (seen?.userId !== 'olga' || (seen.metadata as { page?: number }).page !== 2) throw new Error('unexpected presence ' + JSON.stringify(seen));
console.log('@prisma/client $VERSION: ok');
CHECK
"$ROOT/node_modules/.bin/tsx" check.ts
