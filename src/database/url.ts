import pg from 'pg';
import { PresenceError, redactPasswords } from '../errors.js';

/** The two engines prisma-presence runs on. */
export type Dialect = 'sqlite' | 'postgresql';

export type DatabaseLocation =
  | { dialect: 'sqlite'; url: string; path: string }
  | { dialect: 'postgresql'; url: string };

/** Reads a database URL: `file:<path>` is SQLite, `postgresql://` or `postgres://` is PostgreSQL. */
export function parseDatabaseUrl(url: unknown): DatabaseLocation {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new PresenceError('INVALID_ARGUMENT', `databaseUrl must be a non-empty string, got ${JSON.stringify(url) ?? String(url)}`);
  }
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length).split('?')[0] ?? '';
    if (path === '') {
      throw new PresenceError('UNSUPPORTED_DATABASE', `SQLite URL "${url}" has no file path: use file:./presence.db`);
    }
    return { dialect: 'sqlite', url, path };
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    assertReadableByPg(url);
    return { dialect: 'postgresql', url };
  }
  throw new PresenceError(
    'UNSUPPORTED_DATABASE',
    `Unsupported database URL "${redactPasswords(url)}": use file:<path> for SQLite or postgresql://user@host:port/database for PostgreSQL`,
  );
}

/**
 * Reads the URL with pg's own parser (building a client connects nothing), so that a
 * malformed one fails here with a reason instead of at the first query. The message
 * leaves the URL out: one that does not parse may not redact cleanly either.
 */
function assertReadableByPg(url: string): void {
  try {
    new pg.Client({ connectionString: url });
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    throw new PresenceError(
      'INVALID_ARGUMENT',
      `The PostgreSQL URL cannot be read (${reason}): write it as postgresql://user@host:port/database, a password as user:password with any / ? # in it percent-encoded (%2F %3F %23)`,
    );
  }
}
