import { setTimeout as sleep } from 'node:timers/promises';
import { PresenceError } from '../errors.js';
import type { Sql } from './sql.js';
import type { Connection } from './connections.js';
import type { Dialect } from './url.js';

/**
 * The part of a PrismaClient that prisma-presence uses. Any client generated from a
 * schema that includes the shipped models fits, whatever else its schema holds.
 */
export interface PrismaClientLike {
  $queryRawUnsafe<T = unknown>(query: string, ...values: any[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: any[]): PromiseLike<number>;
  $transaction<R>(work: (tx: any) => Promise<R>, options?: { maxWait?: number; timeout?: number }): Promise<R>;
  $disconnect(): Promise<void>;
}

/** A statement runner bound to one transaction. */
export interface Transaction {
  query<T>(statement: Sql): Promise<T[]>;
  execute(statement: Sql): Promise<number>;
}

const MAX_ATTEMPTS = 6;

/**
 * Runs prisma-presence's statements: renders them for the dialect, retries the
 * transient failures of concurrent writers, and turns the failures a user can act on
 * into PresenceErrors.
 */
export class Database {
  private closed = false;

  constructor(
    private readonly connection: Connection,
    readonly dialect: Dialect,
  ) {}

  /** Refuses further statements and closes the connection (an application's client stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection.close();
  }

  /** Runs one statement and returns its rows. */
  query<T>(statement: Sql): Promise<T[]> {
    const { text, values } = statement.render(this.dialect);
    return this.retrying(() => this.connection.query<T>(text, values));
  }

  /** Runs one statement and returns how many rows it changed. */
  execute(statement: Sql): Promise<number> {
    const { text, values } = statement.render(this.dialect);
    return this.retrying(() => this.connection.execute(text, values));
  }

  /** Runs `work` in one transaction, retried as a whole on serialization failures. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.retrying(() =>
      this.connection.transaction((tx) =>
        work({
          query: <R>(statement: Sql) => {
            const { text, values } = statement.render(this.dialect);
            return tx.query<R>(text, values);
          },
          execute: (statement: Sql) => {
            const { text, values } = statement.render(this.dialect);
            return tx.execute(text, values);
          },
        }),
      ),
    );
  }

  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    if (this.closed) throw new PresenceError('CLOSED', 'This presence instance is closed');
    for (let attempts = 1; ; attempts++) {
      try {
        return await attempt();
      } catch (error) {
        if (attempts >= MAX_ATTEMPTS || !isTransient(error)) throw translateError(error);
        await sleep(backoff(attempts));
      }
    }
  }
}

/** Jittered exponential backoff: ~10, 20, 40, 80, 160 ms. */
function backoff(attempts: number): number {
  return 5 * 2 ** attempts * (0.5 + Math.random());
}

/** What the driver adapter reported: through a PrismaClient (`meta`) or straight from the adapter (`cause`). */
function adapterCause(error: unknown): { kind?: unknown; originalCode?: unknown } | undefined {
  const candidate = error as { name?: unknown; cause?: unknown; meta?: { driverAdapterError?: { cause?: unknown } } } | null;
  const cause = candidate?.meta?.driverAdapterError?.cause ?? (candidate?.name === 'DriverAdapterError' ? candidate.cause : undefined);
  return typeof cause === 'object' && cause !== null ? cause : undefined;
}

/** The driver adapter's classification of a failure, e.g. `TableDoesNotExist`. */
export function driverErrorKind(error: unknown): string | undefined {
  const kind = adapterCause(error)?.kind;
  if (typeof kind === 'string') return kind;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'P2021') return 'TableDoesNotExist';
  if (code === 'P2003') return 'ForeignKeyConstraintViolation';
  if (code === 'P1001') return 'DatabaseNotReachable';
  return undefined;
}

/** SQLite's busy timeout ran out, or PostgreSQL aborted a transaction to avoid an anomaly. */
function isTransient(error: unknown): boolean {
  return driverErrorKind(error) === 'TransactionWriteConflict' || isStillBusy(error) || (error as { code?: unknown })?.code === 'P2034';
}

const UNAVAILABLE = new Set([
  'DatabaseNotReachable',
  'DatabaseDoesNotExist',
  'DatabaseAccessDenied',
  'AuthenticationFailed',
  'TlsConnectionError',
  'ConnectionClosed',
  'TooManyConnections',
]);

function translateError(error: unknown): unknown {
  if (error instanceof PresenceError) return error;
  const kind = driverErrorKind(error);
  if (kind === 'TableDoesNotExist') {
    return new PresenceError(
      'MIGRATION_REQUIRED',
      'The presence tables do not exist in this database: run `npx presence-admin migrate` first (or apply the shipped migrations with `prisma migrate deploy`)',
      { cause: error },
    );
  }
  if ((kind !== undefined && UNAVAILABLE.has(kind)) || isConnectionFailure(error) || isStillBusy(error)) {
    return new PresenceError('DATABASE_UNAVAILABLE', `Cannot use the database: ${describeUnavailable(error)}`, { cause: error });
  }
  return error;
}

/** A readable reason, from the adapter's details when there are some. */
function describeUnavailable(error: unknown): string {
  const cause = (adapterCause(error) ?? {}) as Record<string, unknown>;
  switch (cause.kind) {
    case 'DatabaseNotReachable':
      return `can't reach the server${cause.host ? ` at ${String(cause.host)}${cause.port ? `:${String(cause.port)}` : ''}` : ''}; is it running?`;
    case 'DatabaseDoesNotExist':
      return `the database${cause.db ? ` ${String(cause.db)}` : ''} does not exist`;
    case 'AuthenticationFailed':
    case 'DatabaseAccessDenied':
      return `the server refused the login${cause.user ? ` of ${String(cause.user)}` : ''}`;
    case 'TooManyConnections':
      return 'the server has too many connections; lower pool.max';
    case 'ConnectionClosed':
      return 'the server closed the connection';
  }
  if (isStillBusy(error)) return 'the SQLite file stayed locked by another process for too long';
  return firstLine(error);
}

function isStillBusy(error: unknown): boolean {
  const original = adapterCause(error)?.originalCode;
  return typeof original === 'string' && original.startsWith('SQLITE_BUSY');
}

/** pg's own connection errors, which reach us without a driver-adapter classification. */
function isConnectionFailure(error: unknown): boolean {
  const messages = [error, (error as { cause?: unknown } | null)?.cause].map((e) => (e instanceof Error ? e.message : ''));
  return messages.some((message) => /connection terminated|timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET/i.test(message));
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n').at(-1) ?? message;
}
