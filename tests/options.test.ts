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

describe('pool options', () => {
  const POSTGRES = 'postgresql://app@127.0.0.1:1/app';

  it.each([
    ['max: -1', { max: -1 }, /pool\.max must be/],
    ['max: 0', { max: 0 }, /pool\.max must be/],
    ['max: 2.5', { max: 2.5 }, /pool\.max must be/],
    ["max: '10'", { max: '10' }, /pool\.max must be/],
    ['connectTimeout: NaN', { connectTimeout: Number.NaN }, /pool\.connectTimeout must be/],
    ['connectTimeout: -5', { connectTimeout: -5 }, /pool\.connectTimeout must be/],
    ['idleTimeout: Infinity', { idleTimeout: Number.POSITIVE_INFINITY }, /pool\.idleTimeout must be/],
    ['idleTimeout past a Node timer (2^31 ms)', { idleTimeout: 2 ** 31 }, /pool\.idleTimeout must be/],
    ['a misspelt field (maxConnections)', { maxConnections: 5 }, /pool has no option maxConnections/],
    ['a number', 10, /pool must be an object/],
    ['null', null, /pool must be an object/],
  ])('createPresence rejects %s with INVALID_ARGUMENT at once', (_kind, pool, message) => {
    expect(() => createPresence({ databaseUrl: POSTGRES, pool: pool as never })).toThrow(
      expect.objectContaining({ name: 'PresenceError', code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });

  it('keeps valid settings', () => {
    const { database } = resolveOptions({ databaseUrl: POSTGRES, pool: { max: 1, connectTimeout: 250, idleTimeout: 1 } }, {});
    expect(database).toMatchObject({ pool: { max: 1, connectTimeout: 250, idleTimeout: 1 } });
  });
});

describe('durations that no date or timer can hold', () => {
  it.each([
    ['maxAge', { maxAge: 1e300 }, /maxAge must be at most 3155760000 seconds/],
    ['eventRetention', { eventRetention: 1e300 }, /eventRetention must be at most/],
    ['leaveGrace past a Node timer', { leaveGrace: 2_147_484 }, /leaveGrace must be at most 2147483 seconds/],
    ['liveness.interval past a Node timer', { liveness: { interval: 2_147_484 } }, /liveness\.interval must be at most/],
    ['liveness.timeout', { liveness: { timeout: 1e300 } }, /liveness\.timeout must be at most/],
  ])('rejects %s with INVALID_ARGUMENT', (_kind, options, message) => {
    expect(() => resolveOptions({ databaseUrl: 'file:./unused.db', ...options }, {})).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });

  it('rejects PRESENCE_MAX_AGE=1e300', () => {
    expect(() => resolveOptions({}, { PRESENCE_MAX_AGE: '1e300' })).toThrow(/PRESENCE_MAX_AGE must be at most/);
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
