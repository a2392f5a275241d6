import { afterEach, describe, expect, it } from 'vitest';
import { createPresence, PresenceError } from '../src/index.ts';
import { resolveOptions } from '../src/options.ts';

describe('option resolution', () => {
  const url = (env: Record<string, string>, databaseUrl?: string) => {
    const { database } = resolveOptions({ databaseUrl }, env);
    return database.kind === 'url' ? database.location.url : undefined;
  };

  it('prefers the explicit URL, then PRESENCE_DATABASE_URL, then DATABASE_URL, then ./presence.db', () => {
    const env = { PRESENCE_DATABASE_URL: 'file:./a.db', DATABASE_URL: 'file:./b.db' };
    expect(url(env, 'file:./explicit.db')).toBe('file:./explicit.db');
    expect(url(env)).toBe('file:./a.db');
    expect(url({ DATABASE_URL: 'file:./b.db' })).toBe('file:./b.db');
    expect(url({})).toBe('file:./presence.db');
    expect(url({ PRESENCE_DATABASE_URL: '  ', DATABASE_URL: 'file:./b.db' })).toBe('file:./b.db');
  });

  it('selects the engine from the URL scheme', () => {
    const dialect = (databaseUrl: string) => {
      const { database } = resolveOptions({ databaseUrl }, {});
      return database.kind === 'url' ? database.location.dialect : undefined;
    };
    expect(dialect('file:./presence.db')).toBe('sqlite');
    expect(dialect('postgresql://app@localhost/app')).toBe('postgresql');
    expect(dialect('postgres://app@localhost/app')).toBe('postgresql');
  });

  it('prefers an explicit max age, then PRESENCE_MAX_AGE, then 60', () => {
    expect(resolveOptions({ maxAge: 5 }, { PRESENCE_MAX_AGE: '90' }).maxAge).toBe(5);
    expect(resolveOptions({}, { PRESENCE_MAX_AGE: '90' }).maxAge).toBe(90);
    expect(resolveOptions({}, {}).maxAge).toBe(60);
  });

  it('rejects a PRESENCE_MAX_AGE that is not a positive number, naming the variable', () => {
    expect(() => resolveOptions({}, { PRESENCE_MAX_AGE: 'soon' })).toThrow(/PRESENCE_MAX_AGE must be a positive number/);
    expect(() => resolveOptions({}, { PRESENCE_MAX_AGE: '-1' })).toThrow(PresenceError);
  });

  it.each([
    ['mysql://user:hunter2@db/app', /Unsupported database URL "mysql:\/\/user:\*\*\*@db\/app"/],
    ['redis://localhost', /Unsupported database URL/],
    ['./presence.db', /Unsupported database URL/],
    ['file:', /has no file path/],
  ])('rejects the URL %s with UNSUPPORTED_DATABASE and no password', (databaseUrl, message) => {
    try {
      resolveOptions({ databaseUrl }, {});
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ name: 'PresenceError', code: 'UNSUPPORTED_DATABASE', message: expect.stringMatching(message) });
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('rejects both databaseUrl and prisma, a non-client prisma, a non-function clock and a non-object', () => {
    const client = { $queryRawUnsafe: async () => [] } as never;
    expect(() => resolveOptions({ databaseUrl: 'file:./x.db', prisma: client }, {})).toThrow(/either databaseUrl or prisma/);
    expect(() => resolveOptions({ prisma: {} as never }, {})).toThrow(/PrismaClient/);
    expect(() => resolveOptions({ now: 'yesterday' as never }, {})).toThrow(/now must be a function/);
    expect(() => resolveOptions(42 as never, {})).toThrow(/options object/);
    expect(() => resolveOptions({ databaseUrl: '' }, {})).toThrow(PresenceError);
  });
});

describe('createPresence reads the environment', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('uses PRESENCE_MAX_AGE when no maxAge is given', () => {
    process.env.PRESENCE_MAX_AGE = '15';
    process.env.PRESENCE_DATABASE_URL = 'postgresql://app@127.0.0.1:1/app';
    const presence = createPresence();
    expect(presence.maxAge).toBe(15);
    return presence.close();
  });
});
