// Says once which PostgreSQL and Chromium binaries the run uses, starts one throwaway
// PostgreSQL server for the whole run (each test file makes its own database on it) and
// generates the application-schema fixture client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { generateAppClient } from './appClient.ts';
import { describeBinaries } from './binaries.ts';
import { testEngines } from './engines.ts';
import { startPostgresServer, type PostgresServer } from './postgresServer.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
    /** Every temporary file of the run lives under this folder (see support/scratch.ts). */
    scratchRoot: string;
  }
}

let server: PostgresServer | undefined;
let scratchRoot: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  scratchRoot = mkdtempSync(join(tmpdir(), 'presence-tests-'));
  project.provide('scratchRoot', scratchRoot);
  const postgres = testEngines().includes('postgresql');
  console.log(await describeBinaries({ postgres }));
  await generateAppClient();
  if (postgres) {
    server = await startPostgresServer();
    project.provide('postgresUrl', server.url);
  } else {
    project.provide('postgresUrl', '');
  }
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (scratchRoot) rmSync(scratchRoot, { recursive: true, force: true });
}
