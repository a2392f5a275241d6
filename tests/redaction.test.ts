// Passwords never print: redactPasswords against every URL form the pg driver reads a
// password from, and the paths (errors, CLI text, --json, DEBUG, migrate) that print URLs.
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { redactPasswords } from '../src/errors.ts';
import { createPresence, migrate, PresenceError } from '../src/index.ts';
import { cli } from './support/cli.ts';

/** [form, URL, the password pg reads from it]: the oracle is pg's own parser. */
const forms: [string, string, string][] = [
  ['postgresql://user:pass@host/db', 'postgresql://user:Hunter2pw@host/db', 'Hunter2pw'],
  ['postgres:// scheme', 'postgres://user:Hunter2pw@host:5432/db', 'Hunter2pw'],
  ['a raw @ in the password', 'postgresql://u:Top@Secret@host/db', 'Top@Secret'],
  ['a raw : in the password', 'postgresql://u:Top:Secret@host/db', 'Top:Secret'],
  ['a percent-encoded password', 'postgresql://u:Top%40Secret%2F@host/db', 'Top@Secret/'],
  ['?password=', 'postgresql://u@host/db?password=Hunter2pw', 'Hunter2pw'],
  ['&password=', 'postgresql://u@host/db?sslmode=disable&password=Hunter2pw&application_name=x', 'Hunter2pw'],
  ['a Unix socket host and &password=', 'postgresql:///db?host=/var/run/postgresql&password=Hunter2pw', 'Hunter2pw'],
  ['an IPv6 host', 'postgresql://user:Hunter2pw@[::1]:5432/db', 'Hunter2pw'],
  ['socket:// with a password', 'socket://user:Hunter2pw@/var/run/postgresql?db=app', 'Hunter2pw'],
];

/** The parts of a password around the characters a redaction could stop at. */
const pieces = (password: string) => password.split(/[@:/]/).filter(Boolean);

describe('redactPasswords', () => {
  it.each(forms)('hides the password of a URL with %s', (_form, url, password) => {
    expect(new pg.Client({ connectionString: url }).password).toBe(password);
    const redacted = redactPasswords(url);
    for (const piece of pieces(password)) expect(redacted).not.toContain(piece);
    expect(redacted).toContain('***');
  });

  it.each(forms)('hides it inside a sentence, quoted, with %s', (_form, url, password) => {
    const redacted = redactPasswords(`Cannot connect to "${url}": refused. Retried '${url}' and \`${url}\``);
    for (const piece of pieces(password)) expect(redacted).not.toContain(piece);
    expect(redacted).toMatch(/^Cannot connect to "/);
  });

  it.each([
    ['a raw #', 'postgresql://u:Top#Secret@host/db'],
    ['a raw ?', 'postgresql://u:Top?Secret@host/db'],
    ['a raw /', 'postgresql://u:Top/Secret@host/db'],
  ])('hides the password of a URL pg cannot parse, with %s in it', (_kind, url) => {
    expect(() => new pg.Client({ connectionString: url })).toThrow();
    expect(redactPasswords(`bad URL ${url}`)).toBe('bad URL postgresql://u:***@host/db');
  });

  it('hides sslpassword=, the key passphrase', () => {
    expect(redactPasswords('postgresql://u@host/db?sslmode=require&sslkey=/k.pem&sslpassword=KeyPass9')).toBe(
      'postgresql://u@host/db?sslmode=require&sslkey=/k.pem&sslpassword=***',
    );
  });

  it('hides the passwords of several URLs in one text, keeping the rest', () => {
    const text = 'primary postgresql://a:First1@db1/app, replica postgres://b:Sec@ond2@db2:6432/app?password=Third3 then done';
    expect(redactPasswords(text)).toBe('primary postgresql://a:***@db1/app, replica postgres://b:***@db2:6432/app?password=*** then done');
  });

  it('leaves URLs without a password and plain text alone', () => {
    for (const text of ['postgresql://app@localhost:5432/app', 'postgresql://localhost/app?sslmode=require', 'file:./presence.db', 'user@example.com: 3 rooms']) {
      expect(redactPasswords(text)).toBe(text);
    }
  });
});

const SECRET_URL = 'postgresql://app:Top@Secret@127.0.0.1:1/app?connect_timeout=1';
const secretParts = ['Top@Secret', 'Secret@127'];

describe('paths that print a database URL', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('a PresenceError built from a message with the URL', () => {
    const error = new PresenceError('DATABASE_UNAVAILABLE', `Cannot reach ${SECRET_URL}`);
    for (const part of secretParts) expect(`${error.message}\n${error.stack}`).not.toContain(part);
  });

  it('an unsupported URL with a raw @ in its password', () => {
    expect(() => createPresence({ databaseUrl: 'mysql://app:Top@Secret@db/app' })).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_DATABASE', message: expect.not.stringContaining('Secret') }),
    );
  });

  it("migrate's engine error", async () => {
    const error = await migrate({ databaseUrl: SECRET_URL }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED' });
    for (const part of secretParts) expect((error as Error).message).not.toContain(part);
  });

  it.each([
    ['text', []],
    ['--json', ['--json']],
  ])('presence-admin migrate and stats, as %s and with DEBUG', async (_kind, extra) => {
    for (const debug of ['', '1']) {
      vi.stubEnv('DEBUG', debug);
      for (const command of ['migrate', 'stats']) {
        const result = await cli(command, '--database-url', SECRET_URL, ...extra);
        expect(result.code).toBe(1);
        for (const part of secretParts) expect(`${result.out}${result.err}`).not.toContain(part);
      }
    }
  });

  it('presence-admin usage errors that echo the URL', async () => {
    const result = await cli('stats', `--database-ulr=${SECRET_URL}`, '--json');
    expect(result.code).toBe(2);
    for (const part of secretParts) expect(`${result.out}${result.err}`).not.toContain(part);
  });
});
