// Copies the shared models into each provider's schema folder (see modelsFor), then generates one
// PrismaClient per provider. Runs offline: `prisma generate` never starts the schema
// engine, but insists on finding one, so it is pointed at a stub.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { DIALECTS, modelsCopy, modelsFor, MODELS_SOURCE, schemaFolder } from './prisma-paths.ts';

for (const dialect of DIALECTS) {
  writeFileSync(modelsCopy(dialect), modelsFor(dialect, readFileSync(MODELS_SOURCE, 'utf8')));
  execFileSync('npx', ['prisma', 'generate', '--schema', schemaFolder(dialect)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? 'scripts/schema-engine-stub.sh' },
  });
  console.error(`generated the ${dialect} client`);
}
