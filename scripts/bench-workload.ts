// What the benchmark's processes share: the workload's names and sizes, and the messages
// the coordinator (scripts/bench.ts) and each side's process (scripts/bench-side.ts)
// exchange. Nothing heavy is imported here: the coordinator must stay small.

export type Engine = 'sqlite' | 'postgresql';
export const ENGINES: readonly Engine[] = ['sqlite', 'postgresql'];
export const STEPS = ['add', 'touch', 'roomQueries', 'prunePresences', 'leaveAll', 'pruneRooms', 'heartbeat', 'heartbeatUnbuffered'] as const;
export type StepName = (typeof STEPS)[number];
export const SIDES = ['ours', 'oursUrl', 'raw'] as const;
export type Side = (typeof SIDES)[number];
/** The sides that run prisma-presence; the peak RSS target is about these. */
export const LIBRARY_SIDES: readonly Side[] = ['ours', 'oursUrl'];

export const MAX_AGE = 60;
export const HEARTBEAT_ROUNDS = 10;
export const HEARTBEAT = '"heartbeat"';
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * The write-cost measurement (ours only, where statements can be counted): a tracker with
 * `liveness: { interval }` and `touchInterval` a little shorter holds the N connections,
 * each sending one heartbeat per interval, for this many intervals.
 */
export const WRITE_COST_INTERVAL_SECONDS = 1;
export const WRITE_COST_INTERVALS = 3;

/** What reached the database while the write-cost tracker held the N connections. */
export interface WriteCostMeasured {
  connections: number;
  intervalSeconds: number;
  /** Heartbeat rounds: each connection sent one heartbeat per interval, this many times. */
  intervals: number;
  /** How long the window lasted (longer than the intervals when writes held the rounds up). */
  seconds: number;
  /** Liveness UPSERTs of the PresenceServer row. */
  livenessStatements: number;
  /** Flushes of the coalesced heartbeats (UPDATE ... IN (...), up to 500 channels each). */
  heartbeatStatements: number;
  /** Every other statement (none expected). */
  otherStatements: number;
}

/**
 * Prisma's path for statements that return rows takes a couple of thousand calls to warm
 * up (about 1 ms a call at first, 0.3 ms once warm, on the machine this was written on),
 * while the room-queries step makes only 2R calls. The warm-up pass repeats that step
 * until it has made this many calls, so that the reported step measures a warm process.
 */
export const WARMUP_ROOM_QUERY_CALLS = 4000;

export const roomName = (r: number) => `room-${String(r).padStart(5, '0')}`;
export const channelName = (i: number) => `chan.${String(i).padStart(7, '0')}`;
export const roomCount = (n: number) => Math.max(1, Math.floor(n / 100));
export const roomOf = (i: number, n: number, rooms: number) => Math.floor((i * rooms) / n);
export const userOf = (i: number) => (i % 2 === 0 ? `user-${i / 2}` : null);
export const isStale = (i: number) => i % 4 === 0 || i % 4 === 1;

/** How many times the room-queries step goes over every room. */
export const roomQueryRounds = (rooms: number, warmingUp: boolean) => (warmingUp ? Math.ceil(WARMUP_ROOM_QUERY_CALLS / (2 * rooms)) : 1);

/** The timestamp text the library stores on SQLite (checked at run time after add). */
export const sqliteTimestamp = (date: Date) => date.toISOString().replace('Z', '+00:00');

// ---------------------------------------------------------------------------------------
// Messages between the coordinator and a side's process (Node's IPC channel, JSON).

/**
 * Each step runs in three phases, every side finishing a phase before the next starts:
 * untimed preparation, the timed work, untimed checks of the side's database.
 */
export type Phase = 'prepare' | 'run' | 'check';

export type Request =
  | { kind: 'open'; engine: Engine; url: string; n: number; warmingUp: boolean }
  | { kind: 'phase'; step: StepName; phase: Phase }
  /** The write-cost measurement, after every step; only the ours side can answer it. */
  | { kind: 'writeCost' }
  | { kind: 'close' };

export interface Measured {
  ms: number;
  /** Statements that reached the database; null where they cannot be observed (oursUrl). */
  statements: number | null;
}

export type Reply =
  | { kind: 'done'; measured?: Measured }
  | { kind: 'writeCost'; cost: WriteCostMeasured }
  /** After close: process.resourceUsage().maxRSS of the side's process so far, in bytes. */
  | { kind: 'closed'; peakRssBytes: number }
  | { kind: 'failed'; error: string };

/** process.resourceUsage().maxRSS is in kilobytes. */
export const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;
