import { TABLE_MODELS } from './database/database.js';
import { parseDatabaseUrl, type DatabaseLocation, type Dialect } from './database/url.js';
import { PresenceError } from './errors.js';
import { MAX_TIMER_SECONDS, parseSeconds, parseSecondsText } from './validation.js';
import type { LivenessOptions, PoolOptions, PresenceOptions, PrismaClientLike, TableNames } from './types.js';

export const DEFAULT_DATABASE_URL = 'file:./presence.db';
export const DEFAULT_MAX_AGE = 60;

export type Environment = Record<string, string | undefined>;

/** Options with every default applied: explicit option, then environment, then default. */
export interface ResolvedOptions {
  database: { kind: 'url'; location: DatabaseLocation; pool: PoolOptions } | { kind: 'client'; client: PrismaClientLike; dialect: Dialect };
  maxAge: number;
  now: () => Date;
  touchInterval: number;
  shareEvents: boolean;
  eventRetention: number;
  maxMetadataBytes: number;
  /** Seconds, or undefined when the process does not register itself. */
  liveness: { interval: number; timeout: number } | undefined;
  leaveGrace: number;
  tables: TableNames;
}

export const DEFAULT_MAX_METADATA_BYTES = 8192;
export const DEFAULT_LIVENESS_INTERVAL = 5;

export const DEFAULT_EVENT_RETENTION = 600;

/** The database URL from an explicit value or the environment. */
export function resolveDatabaseUrl(explicit: string | undefined, env: Environment = process.env): string {
  return explicit ?? nonEmpty(env.PRESENCE_DATABASE_URL) ?? nonEmpty(env.DATABASE_URL) ?? DEFAULT_DATABASE_URL;
}

/** The max age from an explicit value or the environment, validated. */
export function resolveMaxAge(explicit: unknown, env: Environment = process.env): number {
  if (explicit !== undefined) return parseSeconds(explicit, 'maxAge');
  const fromEnv = nonEmpty(env.PRESENCE_MAX_AGE);
  return fromEnv === undefined ? DEFAULT_MAX_AGE : parseSecondsText(fromEnv, 'PRESENCE_MAX_AGE');
}

export function resolveOptions(options: PresenceOptions = {}, env: Environment = process.env): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new PresenceError('INVALID_ARGUMENT', 'createPresence takes an options object');
  }
  const { databaseUrl, prisma, now = () => new Date() } = options;
  if (typeof now !== 'function') {
    throw new PresenceError('INVALID_ARGUMENT', 'now must be a function returning a Date');
  }
  const maxAge = resolveMaxAge(options.maxAge, env);
  const touchInterval = resolveTouchInterval(options.touchInterval, maxAge);
  const shareEvents = resolveShareEvents(options.shareEvents, env);
  const eventRetention = options.eventRetention === undefined ? DEFAULT_EVENT_RETENTION : parseSeconds(options.eventRetention, 'eventRetention');
  const sharing = {
    shareEvents,
    eventRetention,
    maxMetadataBytes: resolveMetadataLimit(options.maxMetadataBytes),
    liveness: resolveLiveness(options.liveness),
    leaveGrace: options.leaveGrace === undefined || options.leaveGrace === 0 ? 0 : parseSeconds(options.leaveGrace, 'leaveGrace', MAX_TIMER_SECONDS),
    tables: resolveTables(options.tables, env),
  };
  if (prisma !== undefined) {
    if (databaseUrl !== undefined) {
      throw new PresenceError('INVALID_ARGUMENT', 'Pass either databaseUrl or prisma, not both');
    }
    if (typeof (prisma as Partial<PrismaClientLike>)?.$queryRawUnsafe !== 'function') {
      throw new PresenceError('INVALID_ARGUMENT', 'prisma must be a PrismaClient instance');
    }
    return { database: { kind: 'client', client: prisma, dialect: resolveProvider(options.provider) }, maxAge, now, touchInterval, ...sharing };
  }
  if (options.provider !== undefined) {
    throw new PresenceError('INVALID_ARGUMENT', 'provider goes with prisma; with databaseUrl the URL tells the database');
  }
  const location = parseDatabaseUrl(resolveDatabaseUrl(databaseUrl, env));
  return { database: { kind: 'url', location, pool: resolvePool(options.pool) }, maxAge, now, touchInterval, ...sharing };
}

/** The dialect for an application's client, from its adapter's provider name or the dialect itself. */
function resolveProvider(provider: unknown): Dialect {
  if (provider === 'sqlite') return 'sqlite';
  if (provider === 'postgresql' || provider === 'postgres') return 'postgresql';
  throw new PresenceError(
    'INVALID_ARGUMENT',
    provider === undefined
      ? "createPresence({ prisma }) needs provider: your driver adapter's provider (e.g. provider: adapter.provider) or 'sqlite' / 'postgresql'"
      : `provider must be 'sqlite', 'postgresql' or 'postgres' (prisma-presence supports those), got ${JSON.stringify(provider)}`,
  );
}

function resolveTouchInterval(explicit: unknown, maxAge: number): number {
  const ceiling = (maxAge * 1000) / 4;
  if (explicit === undefined) return Math.min(1000, (maxAge * 1000) / 10);
  if (typeof explicit !== 'number' || !Number.isFinite(explicit) || explicit < 0 || explicit > ceiling) {
    throw new PresenceError(
      'INVALID_ARGUMENT',
      `touchInterval must be a number of milliseconds from 0 to a quarter of maxAge (${ceiling}), got ${String(explicit)}`,
    );
  }
  return explicit;
}

const POOL_FIELDS = ['max', 'connectTimeout', 'idleTimeout'] as const;

/** Pool settings checked here, since pg would only fail on them at the first query. */
function resolvePool(explicit: unknown): PoolOptions {
  if (explicit === undefined) return {};
  if (typeof explicit !== 'object' || explicit === null || Array.isArray(explicit)) {
    throw new PresenceError('INVALID_ARGUMENT', `pool must be an object { max?, connectTimeout?, idleTimeout? }, got ${String(explicit)}`);
  }
  const unknown = Object.keys(explicit).filter((key) => !(POOL_FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw new PresenceError('INVALID_ARGUMENT', `pool has no option ${unknown.join(', ')}: use ${POOL_FIELDS.join(', ')}`);
  }
  const pool = explicit as Record<string, unknown>;
  for (const field of POOL_FIELDS) {
    const value = pool[field];
    if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_TIMER_SECONDS * 1000)) {
      const what = field === 'max' ? 'a number of connections' : 'a number of milliseconds';
      throw new PresenceError('INVALID_ARGUMENT', `pool.${field} must be ${what}, a positive integer, got ${String(value)}`);
    }
  }
  return explicit as PoolOptions;
}

function resolveMetadataLimit(explicit: unknown): number {
  if (explicit === undefined) return DEFAULT_MAX_METADATA_BYTES;
  if (typeof explicit !== 'number' || !Number.isSafeInteger(explicit) || explicit <= 0) {
    throw new PresenceError('INVALID_ARGUMENT', `maxMetadataBytes must be a positive integer, got ${String(explicit)}`);
  }
  return explicit;
}

function resolveLiveness(explicit: unknown): ResolvedOptions['liveness'] {
  if (explicit === undefined || explicit === false) return undefined;
  if (explicit !== true && (typeof explicit !== 'object' || explicit === null)) {
    throw new PresenceError('INVALID_ARGUMENT', `liveness must be true, false or { interval?, timeout? }, got ${String(explicit)}`);
  }
  const { interval: rawInterval, timeout: rawTimeout } = explicit === true ? {} : (explicit as LivenessOptions);
  const interval = rawInterval === undefined ? DEFAULT_LIVENESS_INTERVAL : parseSeconds(rawInterval, 'liveness.interval', MAX_TIMER_SECONDS);
  const timeout = rawTimeout === undefined ? 3 * interval : parseSeconds(rawTimeout, 'liveness.timeout');
  if (timeout < 2 * interval) {
    throw new PresenceError('INVALID_ARGUMENT', `liveness.timeout must be at least two intervals (${2 * interval} s), got ${timeout}`);
  }
  return { interval, timeout };
}

/** Whether to share events: the explicit option, else env PRESENCE_SHARE_EVENTS. */
export function resolveShareEvents(explicit: unknown, env: Environment = process.env): boolean {
  if (explicit !== undefined) {
    if (typeof explicit !== 'boolean') throw new PresenceError('INVALID_ARGUMENT', `shareEvents must be true or false, got ${String(explicit)}`);
    return explicit;
  }
  const fromEnv = nonEmpty(env.PRESENCE_SHARE_EVENTS)?.trim().toLowerCase();
  if (fromEnv === undefined || fromEnv === '0' || fromEnv === 'false') return false;
  if (fromEnv === '1' || fromEnv === 'true') return true;
  throw new PresenceError('INVALID_ARGUMENT', `PRESENCE_SHARE_EVENTS must be 1, true, 0 or false, got ${JSON.stringify(env.PRESENCE_SHARE_EVENTS)}`);
}

/** Table names from the option, else PRESENCE_TABLES and PRESENCE_SCHEMA; each a plain SQL identifier. */
export function resolveTables(explicit: unknown, env: Environment = process.env): TableNames {
  if (explicit !== undefined && (typeof explicit !== 'object' || explicit === null)) {
    throw new PresenceError('INVALID_ARGUMENT', `tables must be an object like { Room: 'presence_room' }, got ${String(explicit)}`);
  }
  const tables: Record<string, unknown> = explicit === undefined ? tablesFromEnv(env) : { ...explicit };
  for (const [key, name] of Object.entries(tables)) {
    if (key !== 'schema' && !(TABLE_MODELS as readonly string[]).includes(key)) {
      throw new PresenceError('INVALID_ARGUMENT', `tables has no model ${JSON.stringify(key)}: use ${TABLE_MODELS.join(', ')} or schema`);
    }
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
      throw new PresenceError('INVALID_ARGUMENT', `tables.${key} must be a plain SQL identifier (letters, digits, _), got ${JSON.stringify(name)}`);
    }
  }
  return tables as TableNames;
}

function tablesFromEnv(env: Environment): Record<string, string> {
  const pairs = (nonEmpty(env.PRESENCE_TABLES) ?? '').split(',').filter((pair) => pair.trim() !== '');
  const tables: Record<string, string> = {};
  for (const pair of pairs) {
    const [model, name, extra] = pair.split('=').map((part) => part.trim());
    if (!model || !name || extra !== undefined) {
      throw new PresenceError('INVALID_ARGUMENT', `PRESENCE_TABLES must look like Room=presence_room,Presence=presence_entry, got ${JSON.stringify(env.PRESENCE_TABLES)}`);
    }
    tables[model] = name;
  }
  const schema = nonEmpty(env.PRESENCE_SCHEMA)?.trim();
  if (schema) tables.schema = schema;
  return tables;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
