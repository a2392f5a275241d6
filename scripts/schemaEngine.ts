import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  bindMigrationAwareSqlAdapterFactory,
  mockMigrationAwareAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg';
import { schemaDir } from '../src/migrations/bundled.ts';
import type { Dialect } from '../src/database/url.ts';

export type SchemaEngine = bg.SchemaEngine;

/** The slice of the WebAssembly global used here (its types live in lib.dom, which Node code does not load). */
interface WebAssemblyApi {
  compile(bytes: Uint8Array): Promise<object>;
  Instance: new (module: object, imports: Record<string, object>) => { exports: object };
}
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

let wasmReady: Promise<void> | undefined;

/**
 * Instantiates Prisma's schema engine compiled to WebAssembly once per process.
 * The package's own entry point imports the .wasm file as an ES module, which
 * Node cannot do, so the module is instantiated by hand.
 */
function loadWasm(): Promise<void> {
  wasmReady ??= (async () => {
    // The engine reports a Rust panic's message here before throwing.
    const globals = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(message: string): void } };
    globals.PRISMA_WASM_PANIC_REGISTRY ??= { set_message: () => {} };
    const require = createRequire(import.meta.url);
    const bindingsPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmPath = join(dirname(bindingsPath), 'schema_engine_bg.wasm');
    const module = await wasm.compile(await readFile(wasmPath));
    const instance = new wasm.Instance(module, { './schema_engine_bg.js': withUnrefTimers(bg) });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start?: () => void }).__wbindgen_start?.();
  })();
  return wasmReady;
}

/**
 * Runs `work` with a schema engine bound to `adapterFactory`, then frees the engine
 * and closes every connection it opened: on SQLite the engine otherwise keeps an
 * exclusive lock on the file.
 */
export async function withSchemaEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  datamodels: [path: string, content: string][],
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  await loadWasm();
  const opened: SqlDriverAdapter[] = [];
  const tracked = onEachConnection(adapterFactory, (connection) => void opened.push(connection));
  const engine = await bg.SchemaEngine.new({ datamodels }, () => {}, bindMigrationAwareSqlAdapterFactory(tracked));
  try {
    return await work(engine);
  } finally {
    engine.free();
    await Promise.allSettled(opened.map((connection) => connection.dispose()));
  }
}

/**
 * The engine arms a 10-second timer it never clears; left as it is, that timer keeps
 * a finished `migrate` process alive. Unref'd timers still fire, but do not hold Node.
 */
function withUnrefTimers(bindings: typeof bg): Record<string, unknown> {
  const imports: Record<string, unknown> = { ...bindings };
  for (const [name, value] of Object.entries(bindings)) {
    if (name.startsWith('__wbg_setTimeout_') && typeof value === 'function') {
      imports[name] = (...args: unknown[]) => {
        const timer = (value as (...args: unknown[]) => unknown)(...args);
        (timer as { unref?: () => void } | undefined)?.unref?.();
        return timer;
      };
    }
  }
  return imports;
}

/** One file of a (multi-file) Prisma schema. */
export interface SchemaFile {
  path: string;
  content: string;
}

/**
 * The SQL that takes a database from `from` (nothing, or an older schema) to the schema
 * `to`: what `prisma migrate diff --script` prints. Needs no database.
 */
export async function migrationScript(to: SchemaFile[], from: SchemaFile[] | 'empty' = 'empty'): Promise<string> {
  const source = from === 'empty' ? { tag: 'empty' as const } : { tag: 'schemaDatamodel' as const, files: from };
  const datamodels = to.map(({ path, content }): [string, string] => [path, content]);
  const { stdout } = (await withSchemaEngine(mockMigrationAwareAdapterFactory('sqlite'), datamodels, (engine) =>
    engine.diff({
      from: source,
      to: { tag: 'schemaDatamodel', files: to },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    } as Parameters<typeof engine.diff>[0]),
  )) as { stdout: string };
  return stdout;
}

/** The same factory, with `prepare` run on every connection it opens (settings, bookkeeping). */
export function onEachConnection(
  factory: SqlMigrationAwareDriverAdapterFactory,
  prepare: (connection: SqlDriverAdapter) => Promise<void> | void,
): SqlMigrationAwareDriverAdapterFactory {
  const prepared = async (connecting: Promise<SqlDriverAdapter>) => {
    const connection = await connecting;
    await prepare(connection);
    return connection;
  };
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: () => prepared(factory.connect()),
    connectToShadowDb: () => prepared(factory.connectToShadowDb()),
  };
}

/** The provider's schema files, as `[path, content]` pairs for Prisma's schema engine. */
export async function readSchemaFiles(dialect: Dialect): Promise<[string, string][]> {
  const dir = schemaDir(dialect);
  const names = (await readdir(dir)).filter((name) => name.endsWith('.prisma')).sort();
  return Promise.all(names.map(async (name): Promise<[string, string]> => [join(dir, name), await readFile(join(dir, name), 'utf8')]));
}

/** The content of the provider's `migration_lock.toml`. */
export function readLockfile(dialect: Dialect): Promise<string> {
  return readFile(join(schemaDir(dialect), 'migrations', 'migration_lock.toml'), 'utf8');
}
