import { lastLine, PresenceError } from '../errors.js';
import { sqliteErrorKind } from './sqlite.js';

// How driver failures are classified: transient ones are retried, the ones a user can act on
// become PresenceErrors, the rest pass through unchanged.

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
export function isTransient(error: unknown): boolean {
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

export function translateError(error: unknown): unknown {
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
  if (isTransient(error)) {
    // Still conflicting after every retry: the database is too contended to answer now.
    return new PresenceError('DATABASE_UNAVAILABLE', 'Cannot use the database: concurrent transactions kept conflicting with this one; retry', { cause: error });
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
  return describeDriverError(error) ?? lastLine(error);
}

/** pg's own connection failures (no adapter in between) in the same words. */
export function describeDriverError(error: unknown): string | undefined {
  const { code, address, port } = (error ?? {}) as { code?: unknown; address?: unknown; port?: unknown };
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') {
    return `can't reach the server${typeof address === 'string' ? ` at ${address}${port ? `:${String(port)}` : ''}` : ''}; is it running?`;
  }
  if (error instanceof Error && /timeout expired|Connection terminated due to connection timeout/i.test(error.message)) return "can't reach the server: the connection timed out";
  if (code === '3D000') return `the database does not exist (${(error as Error).message})`;
  if (code === '28P01' || code === '28000') return `the server refused the login (${(error as Error).message})`;
  return undefined;
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
