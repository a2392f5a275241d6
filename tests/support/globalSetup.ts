// Starts one throwaway PostgreSQL server for the whole run (each test file makes its
// own database on it) and generates the application-schema fixture client.
import type { TestProject } from 'vitest/node';
import { generateAppClient } from './appClient.ts';
import { testEngines } from './engines.ts';
import { startPostgresServer, type PostgresServer } from './postgresServer.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

let server: PostgresServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  await generateAppClient();
  if (testEngines().includes('postgresql')) {
    server = await startPostgresServer();
    project.provide('postgresUrl', server.url);
  } else {
    project.provide('postgresUrl', '');
  }
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
