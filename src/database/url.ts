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
    return { dialect: 'postgresql', url };
  }
  throw new PresenceError(
    'UNSUPPORTED_DATABASE',
    `Unsupported database URL "${redactPasswords(url)}": use file:<path> for SQLite or postgresql://user@host:port/database for PostgreSQL`,
  );
}

