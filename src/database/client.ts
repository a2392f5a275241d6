import { setTimeout as sleep } from 'node:timers/promises';
import { PresenceError } from '../errors.js';
import type { Sql } from './sql.js';
import type { Connection } from './connections.js';
import { sqliteErrorKind } from './sqlite.js';
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
  private readonly rename: (text: string) => string;

  constructor(
    private readonly connection: Connection,
    readonly dialect: Dialect,
    tables: TableNames = {},
  ) {
    this.rename = renamer(tables);
  }

  /** Refuses further statements and closes the connection (an application's client stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection.close();
  }

  /** Runs one statement and returns its rows. */
  query<T>(statement: Sql): Promise<T[]> {
    const { text, values } = this.render(statement);
    return this.retrying(() => this.connection.query<T>(text, values));
  }

  /** Runs one statement and returns how many rows it changed. */
  execute(statement: Sql): Promise<number> {
    const { text, values } = this.render(statement);
    return this.retrying(() => this.connection.execute(text, values));
  }

  /** Runs `work` in one transaction, retried as a whole on serialization failures. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.retrying(() =>
      this.connection.transaction((tx) =>
        work({
          query: <R>(statement: Sql) => {
            const { text, values } = this.render(statement);
            return tx.query<R>(text, values);
          },
          execute: (statement: Sql) => {
            const { text, values } = this.render(statement);
            return tx.execute(text, values);
          },
        }),
      ),
    );
  }

  /** The statement's text for the dialect, with the application's table names. */
  private render(statement: Sql): { text: string; values: unknown[] } {
    const { text, values } = statement.render(this.dialect);
    return { text: this.rename(text), values };
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

/**
 * Where the presence tables are, when an application's own schema renamed them (`@@map`)
 * or keeps them in another PostgreSQL schema. Keys are the shipped model names.
 */
export interface TableNames {
  Room?: string;
  Presence?: string;
  PresenceServer?: string;
  PresenceEvent?: string;
  /** PostgreSQL schema holding the tables. Default: the connection's search path (usually `public`). */
  schema?: string;
}

export const TABLE_MODELS = ['Room', 'Presence', 'PresenceServer', 'PresenceEvent'] as const;

/** Rewrites the shipped table names in statement text (every statement quotes them: `"Room"`). */
function renamer(tables: TableNames): (text: string) => string {
  const qualify = (name: string) => (tables.schema ? `"${tables.schema}"."${name}"` : `"${name}"`);
  const renamed = new Map(TABLE_MODELS.map((model) => [`"${model}"`, qualify(tables[model] ?? model)]));
  if ([...renamed].every(([from, to]) => from === to)) return (text) => text;
  return (text) => text.replace(/"(?:Room|Presence|PresenceServer|PresenceEvent)"/g, (quoted) => renamed.get(quoted)!);
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
  const kind = adapterCause(error)?.kind ?? sqliteErrorKind(error);
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
  'SocketTimeout',
]);

/** PrismaClient's codes for the same failures: unreachable, timed out, connection closed, pool timeout. */
const PRISMA_UNAVAILABLE = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);

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

/**
 * A server that is shutting down, restarting or refusing connections, or a connection
 * lost on the way. The adapter classifies only some of these: the rest reach us as its
 * generic `postgres` kind with a SQLSTATE (57P01 admin shutdown, 57P03 starting up,
 * class 08 connection exceptions), as PrismaClient codes, or as pg's own plain errors.
 */
function isConnectionFailure(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const codes = [adapterCause(error)?.originalCode, codeOf(error), codeOf(cause)];
  if (codes.some((code) => typeof code === 'string' && (isUnavailableState(code) || PRISMA_UNAVAILABLE.has(code) || SOCKET_ERRORS.has(code)))) {
    return true;
  }
  const messages = [error, cause].map((e) => (e instanceof Error ? e.message : ''));
  return messages.some((message) => /connection terminated|not queryable|timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET|EPIPE/i.test(message));
}

const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

/** SQLSTATE 57P01-57P05 (shutdown, crash, cannot connect now...), class 08 (connection exception), 53300 (too many connections). */
function isUnavailableState(code: string): boolean {
  return /^57P0[1-5]$/.test(code) || /^08[0-9A-Z]{3}$/.test(code) || code === '53300';
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split('\n').at(-1) ?? message;
}
