// One side of the benchmark (ours, oursUrl or raw) in its own process, so that each
// side's peak RSS is its own. scripts/bench.ts forks it with the side's name and drives
// it over the IPC channel (see Request and Reply in bench-workload.ts): open a database,
// run each step's phases, close (which reports the process's peak RSS).
import { performance } from 'node:perf_hooks';
import { openAdmin, type Admin } from './bench-admin.ts';
import { openOperations, type Connection, type Operations } from './bench-operations.ts';
import {
  channelName,
  HEARTBEAT,
  HEARTBEAT_ROUNDS,
  isStale,
  MAX_AGE,
  peakRssBytes,
  roomCount,
  roomName,
  roomOf,
  roomQueryRounds,
  SIDES,
  sqliteTimestamp,
  userOf,
  type Engine,
  type Measured,
  type Reply,
  type Request,
  type Side,
  type StepName,
  type WriteCostMeasured,
} from './bench-workload.ts';

interface Step {
  /** Untimed, before any side runs the step. */
  prepare?(): Promise<void>;
  /** Timed. */
  run(): Promise<void>;
  /** Untimed, after every side ran the step. */
  check?(): Promise<void>;
}

interface Opened {
  operations: Operations;
  admin: Admin;
  workload: Workload;
}

/** The workload as the header of scripts/bench.ts describes it, on this side's database. */
class Workload {
  private readonly rooms: number;
  private readonly channels: string[];
  private readonly roomNames: string[];
  private readonly channelRooms: string[];
  private readonly users: (string | null)[];
  private readonly staleCount: number;
  private readonly remaining: string[];
  private roomTotals = { users: 0, anonymous: 0 };
  private prunedPresences = 0;
  private prunedRooms = 0;
  private heartbeatsSince = new Date();
  readonly steps: Record<StepName, Step>;

  constructor(
    private readonly side: Side,
    private readonly engine: Engine,
    private readonly n: number,
    private readonly warmingUp: boolean,
    private readonly operations: Operations,
    private readonly admin: Admin,
  ) {
    this.rooms = roomCount(n);
    // Every name is made here, so that the timed loops allocate none.
    this.channels = Array.from({ length: n }, (_, i) => channelName(i));
    this.roomNames = Array.from({ length: this.rooms }, (_, r) => roomName(r));
    this.channelRooms = this.channels.map((_, i) => this.roomNames[roomOf(i, n, this.rooms)]!);
    this.users = this.channels.map((_, i) => userOf(i));
    this.staleCount = this.channels.filter((_, i) => isStale(i)).length;
    this.remaining = this.channels.filter((_, i) => !isStale(i));
    this.steps = {
      add: { run: () => this.addAll(), check: () => this.checkAdded() },
      touch: { run: () => this.touchAll() },
      roomQueries: { run: () => this.queryRooms(), check: () => this.checkRoomQueries() },
      prunePresences: { prepare: () => this.markStale(), run: () => this.prunePresences(), check: () => this.checkPrunedPresences() },
      leaveAll: { run: () => this.leaveAll(), check: () => this.checkLeft() },
      pruneRooms: { run: () => this.pruneRooms(), check: () => this.checkPrunedRooms() },
      heartbeat: this.heartbeatStep(this.operations.onMessage, true),
      heartbeatUnbuffered: this.heartbeatStep(this.operations.onMessageUnbuffered, false),
    };
  }

  private check(condition: boolean, message: string): void {
    if (!condition) throw new Error(`bench check failed: ${this.side}: ${message}`);
  }

  private async addAll(): Promise<void> {
    for (let i = 0; i < this.n; i++) await this.operations.add(this.channelRooms[i]!, this.channels[i]!, this.users[i]!);
  }

  private async checkAdded(): Promise<void> {
    this.check((await this.admin.presences()).total === this.n, `${this.n} presences after add`);
    this.check((await this.admin.rooms()) === this.rooms, `${this.rooms} rooms after add`);
    if (this.engine === 'sqlite' && this.side !== 'raw') {
      // The raw side and the stale marks write lastSeen as text: it must be the library's format.
      const stored = await this.admin.oneLastSeen();
      this.check(stored !== undefined && sqliteTimestamp(new Date(stored)) === stored, `the library stores lastSeen as ${stored}, not ISO-8601 with +00:00`);
    }
  }

  private async touchAll(): Promise<void> {
    for (const channel of this.channels) await this.operations.touch(channel);
  }

  private async queryRooms(): Promise<void> {
    for (let round = 0; round < roomQueryRounds(this.rooms, this.warmingUp); round++) {
      this.roomTotals = { users: 0, anonymous: 0 };
      for (const room of this.roomNames) {
        this.roomTotals.users += (await this.operations.getUsers(room)).length;
        this.roomTotals.anonymous += await this.operations.getAnonymousCount(room);
      }
    }
  }

  private async checkRoomQueries(): Promise<void> {
    const expectedUsers = Math.ceil(this.n / 2);
    const { users, anonymous } = this.roomTotals;
    this.check(users === expectedUsers && anonymous === this.n - expectedUsers, `room queries found ${users} users and ${anonymous} anonymous`);
  }

  private async markStale(): Promise<void> {
    // The others are marked fresh: at large N the earlier steps take longer than the max age.
    const now = Date.now();
    const stale = await this.admin.setLastSeen(new Date(now - 3_600_000), new Date(now));
    this.check(stale === this.staleCount, `${stale} presences marked stale, expected ${this.staleCount}`);
  }

  private async prunePresences(): Promise<void> {
    this.prunedPresences = await this.operations.prunePresences(MAX_AGE);
  }

  private async checkPrunedPresences(): Promise<void> {
    this.check(this.prunedPresences === this.staleCount, `prunePresences removed ${this.prunedPresences}, expected ${this.staleCount}`);
  }

  private async leaveAll(): Promise<void> {
    for (const channel of this.remaining) await this.operations.leaveAll(channel);
  }

  private async checkLeft(): Promise<void> {
    this.check((await this.admin.presences()).total === 0, 'no presences after leaveAll');
  }

  private async pruneRooms(): Promise<void> {
    this.prunedRooms = await this.operations.pruneRooms();
  }

  private async checkPrunedRooms(): Promise<void> {
    this.check(this.prunedRooms === this.rooms, `pruneRooms removed ${this.prunedRooms}, expected ${this.rooms}`);
  }

  private heartbeatStep(onMessage: Operations['onMessage'], addFirst: boolean): Step {
    return {
      prepare: async () => {
        // The N channels are present again, so that each heartbeat updates one row.
        if (addFirst) await this.addAll();
        this.heartbeatsSince = new Date();
      },
      run: () => this.heartbeats(onMessage),
      check: () => this.checkHeartbeats(),
    };
  }

  private async heartbeats(onMessage: Operations['onMessage']): Promise<void> {
    for (let round = 0; round < HEARTBEAT_ROUNDS; round++) {
      for (const channel of this.channels) {
        if ((await onMessage(channel, HEARTBEAT)) !== undefined) throw new Error('a heartbeat reached the handler');
      }
    }
    // Buffered touches count once they are stored.
    await this.operations.flush();
  }

  /** Only where statements are counted (ours); after every step. */
  async measureWriteCost(): Promise<WriteCostMeasured> {
    if (!this.operations.writeCost) throw new Error(`the ${this.side} side cannot count statements by kind`);
    const connections: Connection[] = this.channels.map((channel, i) => ({ room: this.channelRooms[i]!, channel, user: this.users[i]! }));
    const cost = await this.operations.writeCost(connections);
    this.check(cost.livenessStatements >= 1, 'no liveness write while the tracker held its connections');
    this.check(cost.heartbeatStatements >= 1, 'no heartbeat reached the database');
    this.check(cost.otherStatements === 0, `${cost.otherStatements} statements other than liveness and heartbeat writes`);
    this.check((await this.admin.presences()).total === 0, 'the tracker with liveness left its presences behind at close()');
    return cost;
  }

  private async checkHeartbeats(): Promise<void> {
    const seen = await this.admin.presences(this.heartbeatsSince);
    this.check(seen.total === this.n && seen.since === this.n, `${seen.since} of ${this.n} connections (${seen.total} present) touched by their heartbeats`);
  }
}

async function timed(operations: Operations, work: () => Promise<void>): Promise<Measured> {
  const before = operations.statements();
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  const after = operations.statements();
  return { ms, statements: before === null || after === null ? null : after - before };
}

// ---------------------------------------------------------------------------------------
// The process: answers the coordinator's requests one at a time.

const side = process.argv[2] as Side;
if (!SIDES.includes(side) || !process.send) throw new Error(`usage: forked by scripts/bench.ts with one of ${SIDES.join(', ')}`);
let opened: Opened | undefined;

async function handle(request: Request): Promise<Reply> {
  switch (request.kind) {
    case 'open': {
      const { engine, url, n, warmingUp } = request;
      const operations = await openOperations(side, engine, url);
      const admin = await openAdmin(engine, url);
      opened = { operations, admin, workload: new Workload(side, engine, n, warmingUp, operations, admin) };
      return { kind: 'done' };
    }
    case 'phase': {
      if (!opened) throw new Error('no database is open');
      const step = opened.workload.steps[request.step];
      if (request.phase === 'run') {
        await opened.admin.settle();
        return { kind: 'done', measured: await timed(opened.operations, () => step.run()) };
      }
      await step[request.phase]?.();
      return { kind: 'done' };
    }
    case 'writeCost': {
      if (!opened) throw new Error('no database is open');
      return { kind: 'writeCost', cost: await opened.workload.measureWriteCost() };
    }
    case 'close': {
      await opened?.operations.close();
      await opened?.admin.close();
      opened = undefined;
      return { kind: 'closed', peakRssBytes: peakRssBytes() };
    }
  }
}

process.on('message', (request: Request) => {
  handle(request).then(
    (reply) => process.send!(reply),
    (error: unknown) => process.send!({ kind: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies Reply),
  );
});
// The coordinator is gone (done, or failed): nothing left to do.
process.on('disconnect', () => process.exit());
