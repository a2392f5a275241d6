// The ways to reach the database, behind one small interface: the application's own
// PrismaClient (raw queries through its query engine), or, when prisma-presence opens
// the database itself, Prisma's PostgreSQL driver adapter directly (it skips the
// client's per-query planning) or its own SQLite handle (sqlite.ts).
import type { ArgType, SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory, SqlQueryable } from '@prisma/driver-adapter-utils';
import type { PrismaClientLike } from '../types.js';

/** Runs rendered SQL: text with the dialect's placeholders, and its values. */
export interface StatementRunner {
  query<T>(text: string, values: unknown[]): Promise<T[]>;
  execute(text: string, values: unknown[]): Promise<number>;
}

export interface Connection extends StatementRunner {
  transaction<T>(work: (tx: StatementRunner) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Longest interactive transaction prisma-presence runs through an application's
 * PrismaClient (Prisma's default of 5 s is too short for a prune of 100,000 presences).
 */
const CLIENT_TRANSACTION_TIMEOUT_MS = 60_000;

/** The application's PrismaClient; it stays the application's: `close()` leaves it open. */
export function clientConnection(client: PrismaClientLike): Connection {
  const runner = (target: Pick<PrismaClientLike, '$queryRawUnsafe' | '$executeRawUnsafe'>): StatementRunner => ({
    query: async <T>(text: string, values: unknown[]) => ((await target.$queryRawUnsafe<T[]>(text, ...values)) ?? []) as T[],
    execute: async (text, values) => Number(await target.$executeRawUnsafe(text, ...values)),
  });
  return {
    ...runner(client),
    transaction: (work) =>
      client.$transaction((tx) => work(runner(tx)), { maxWait: CLIENT_TRANSACTION_TIMEOUT_MS, timeout: CLIENT_TRANSACTION_TIMEOUT_MS }),
    close: async () => {},
  };
}

/**
 * The same connection, used by one statement or transaction at a time, in call order.
 * For a single SQLite handle: Prisma's driver adapters lock only around transactions,
 * so a plain statement would otherwise run inside another caller's open BEGIN.
 */
export function serialized(connection: Connection): Connection {
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
    const result = turn.then(work);
    turn = result.catch(() => {});
    return result;
  };
  return {
    query: (text, values) => inTurn(() => connection.query(text, values)),
    execute: (text, values) => inTurn(() => connection.execute(text, values)),
    transaction: (work) => inTurn(() => connection.transaction(work)),
    close: () => inTurn(() => connection.close()),
  };
}

/** Prisma's PostgreSQL driver adapter (PrismaPg), connected on first use and disposed by `close()`. */
export function adapterConnection(factory: SqlMigrationAwareDriverAdapterFactory): Connection {
  let connecting: Promise<SqlDriverAdapter> | undefined;
  const adapter = () => (connecting ??= factory.connect());
  return {
    query: async (text, values) => queryOn(await adapter(), text, values),
    execute: async (text, values) => (await adapter()).executeRaw(toQuery(text, values)),
    async transaction(work) {
      const tx = await (await adapter()).startTransaction();
      // PrismaPg's transactions use no phantom queries: ending one in SQL is the caller's job.
      try {
        const result = await work({ query: (text, values) => queryOn(tx, text, values), execute: (text, values) => tx.executeRaw(toQuery(text, values)) });
        await tx.executeRaw(toQuery('COMMIT', []));
        await tx.commit();
        return result;
      } catch (error) {
        await tx.executeRaw(toQuery('ROLLBACK', [])).catch(() => {});
        await tx.rollback();
        throw error;
      }
    },
    async close() {
      if (connecting) await (await connecting).dispose();
    },
  };
}

async function queryOn<T>(queryable: SqlQueryable, text: string, values: unknown[]): Promise<T[]> {
  const { columnNames, rows } = await queryable.queryRaw(toQuery(text, values));
  return rows.map((row) => Object.fromEntries(columnNames.map((name, i) => [name, row[i]])) as T);
}

function toQuery(sql: string, args: unknown[]) {
  return { sql, args, argTypes: args.map(argType) };
}

/** The adapters convert values by declared type: Dates become the stored timestamp format. */
function argType(value: unknown): ArgType {
  if (Array.isArray(value)) return { ...argType(value[0]), arity: 'list' };
  if (value instanceof Date) return { scalarType: 'datetime', arity: 'scalar' };
  if (typeof value === 'number') return { scalarType: Number.isInteger(value) ? 'int' : 'float', arity: 'scalar' };
  if (typeof value === 'bigint') return { scalarType: 'bigint', arity: 'scalar' };
  if (typeof value === 'boolean') return { scalarType: 'boolean', arity: 'scalar' };
  if (typeof value === 'string') return { scalarType: 'string', arity: 'scalar' };
  return { scalarType: 'unknown', arity: 'scalar' };
}
