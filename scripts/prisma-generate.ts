// Copies the shared models into each provider's schema folder, then generates one
// PrismaClient per provider. Runs offline: `prisma generate` never starts the schema
// engine, but insists on finding one, so it is pointed at a stub.
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { DIALECTS, modelsCopy, MODELS_SOURCE, schemaFolder } from './prisma-paths.ts';

for (const dialect of DIALECTS) {
  copyFileSync(MODELS_SOURCE, modelsCopy(dialect));
  execFileSync('npx', ['prisma', 'generate', '--schema', schemaFolder(dialect)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? 'scripts/schema-engine-stub.sh' },
  });
  console.error(`generated the ${dialect} client`);
}
