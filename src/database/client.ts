import { setTimeout as sleep } from 'node:timers/promises';
import { PresenceError } from '../errors.js';
import type { Sql } from './sql.js';
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

type Runner = Pick<PrismaClientLike, '$queryRawUnsafe' | '$executeRawUnsafe'>;

/** A statement runner bound to one transaction. */
export interface Transaction {
  query<T>(statement: Sql): Promise<T[]>;
  execute(statement: Sql): Promise<number>;
}

const MAX_ATTEMPTS = 6;

/**
 * Runs prisma-presence's statements on a PrismaClient: renders them for the dialect,
 * retries the transient failures of concurrent writers, and turns the failures a
 * user can act on into PresenceErrors.
 */
export class Database {
  private closed = false;

  constructor(
    readonly client: PrismaClientLike,
    readonly dialect: Dialect,
    private readonly ownsClient: boolean,
  ) {}

  /** Refuses further statements; disconnects the client if prisma-presence opened it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) await this.client.$disconnect();
  }

  /** Runs one statement and returns its rows. */
  query<T>(statement: Sql): Promise<T[]> {
    return this.retrying(() => runQuery<T>(this.client, this.dialect, statement));
  }

  /** Runs one statement and returns how many rows it changed. */
  execute(statement: Sql): Promise<number> {
    return this.retrying(() => runExecute(this.client, this.dialect, statement));
  }

  /** Runs `work` in one transaction, retried as a whole on serialization failures. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.retrying(() =>
      this.client.$transaction((tx: Runner) =>
        work({
          query: <R>(statement: Sql) => runQuery<R>(tx, this.dialect, statement),
          execute: (statement: Sql) => runExecute(tx, this.dialect, statement),
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

async function runQuery<T>(runner: Runner, dialect: Dialect, statement: Sql): Promise<T[]> {
  const { text, values } = statement.render(dialect);
  return (await runner.$queryRawUnsafe<T[]>(text, ...values)) ?? [];
}

async function runExecute(runner: Runner, dialect: Dialect, statement: Sql): Promise<number> {
  const { text, values } = statement.render(dialect);
  return Number(await runner.$executeRawUnsafe(text, ...values));
}

/** Jittered exponential backoff: ~10, 20, 40, 80, 160 ms. */
function backoff(attempts: number): number {
  return 5 * 2 ** attempts * (0.5 + Math.random());
}

/** The engine behind an application's PrismaClient, from the provider it was generated for. */
export function detectDialect(client: PrismaClientLike): Dialect {
  const provider = (client as { _activeProvider?: unknown })._activeProvider;
  if (provider === 'sqlite' || provider === 'postgresql') return provider;
  throw new PresenceError(
    'UNSUPPORTED_DATABASE',
    `prisma-presence supports PrismaClients for sqlite and postgresql, not ${JSON.stringify(provider ?? 'unknown')}`,
  );
}

/** The driver adapter's classification of a failure, e.g. `TableDoesNotExist`. */
export function driverErrorKind(error: unknown): string | undefined {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { kind?: unknown } } } } | null)?.meta;
  const kind = meta?.driverAdapterError?.cause?.kind;
  if (typeof kind === 'string') return kind;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'P2021') return 'TableDoesNotExist';
  if (code === 'P2003') return 'ForeignKeyConstraintViolation';
  if (code === 'P1001') return 'DatabaseNotReachable';
  return undefined;
}

/** SQLite's busy timeout ran out, or PostgreSQL aborted a transaction to avoid an anomaly. */
function isTransient(error: unknown): boolean {
  const kind = driverErrorKind(error);
  const original = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } })?.meta
    ?.driverAdapterError?.cause?.originalCode;
  return (
    kind === 'TransactionWriteConflict' ||
    (typeof original === 'string' && original.startsWith('SQLITE_BUSY')) ||
    (error as { code?: unknown })?.code === 'P2034'
  );
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
  if ((kind !== undefined && UNAVAILABLE.has(kind)) || isConnectionFailure(error)) {
    return new PresenceError('DATABASE_UNAVAILABLE', `Cannot use the database (${kind}): ${firstLine(error)}`, { cause: error });
  }
  return error;
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
