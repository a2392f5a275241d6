// The installed entry point, bin/presence-admin.js, run as a real process: exit codes,
// what reaches stdout and stderr, and the cwd-relative default database. It runs the
// compiled dist/ (`npx tsc -p tsconfig.build.json`; npm test does it first).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPresence } from '../src/index.ts';
import { presenceAdmin as runBin, type BinResult } from './support/cli.ts';
import { emptyDatabase, inspect, roomNames, snapshot, testEngines } from './support/databases.ts';

const BIN = resolve('bin', 'presence-admin.js');
const UNREACHABLE = 'postgresql://app:s3cr3t-pw@127.0.0.1:1/app';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'presence-bin-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** The real bin in `cwd` (a fresh temp dir by default): no presence.db of this package is in reach. */
async function presenceAdmin(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<BinResult & { ms: number }> {
  const started = Date.now();
  const result = await runBin(args, { cwd: tempDir(), ...options });
  return { ...result, ms: Date.now() - started };
}

/** Runs the bin with a reader that closes its end of stdout at once, as `| head -c 0` does. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tempDir(), env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.on('close', (code) => done({ code, stderr }));
  });
}

/** What a successful command prints: exit 0, one summary line on stdout, nothing on stderr. */
function summary(line: string) {
  return { code: 0, stdout: `${line}\n`, stderr: '' };
}

const outcome = ({ code, stdout, stderr }: BinResult) => ({ code, stdout, stderr });

/** The bundled migrations of an engine, oldest first; the first one is `init`. */
function migrations(engine: 'sqlite' | 'postgresql'): string[] {
  const names = readdirSync(join('prisma', engine, 'migrations'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  expect(names[0]).toMatch(/^\d{14}_init$/);
  return names;
}

const appliedAll = (engine: 'sqlite' | 'postgresql') => {
  const names = migrations(engine);
  return `Applied ${names.length} migration${names.length === 1 ? '' : 's'}: ${names.join(', ')}`;
};

beforeAll(() => {
  if (!existsSync(resolve('dist', 'cli', 'main.js'))) {
    throw new Error('dist/cli/main.js is missing: run `npx tsc -p tsconfig.build.json` (npm test does it) before this file');
  }
});

describe('bin/presence-admin.js', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    const result = await presenceAdmin(['--help']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: presence-admin \[options\] \[command\]\n/);
    expect(result.stdout).toContain('\n  * * * * * cd /srv/app && npx presence-admin prune-presence && npx presence-admin prune-rooms\n');
  });

  it("--version prints package.json's version", async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(outcome(await presenceAdmin(['--version']))).toEqual(summary(version));
  });

  it('exits 2 on an unknown command, with the message on stderr', async () => {
    expect(outcome(await presenceAdmin(['prune-everything']))).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: unknown command 'prune-everything'\n(run with --help for usage)\n",
    });
  });

  it('creates presence.db in the working directory when no URL is given', async () => {
    const cwd = tempDir();
    expect(outcome(await presenceAdmin(['migrate'], { cwd }))).toEqual(summary(appliedAll('sqlite')));
    const db = await inspect(`file:${join(cwd, 'presence.db')}`);
    try {
      expect(await db.rows('SELECT * FROM "Room"')).toEqual([]);
    } finally {
      await db.close();
    }
    expect(outcome(await presenceAdmin(['prune-rooms'], { cwd }))).toEqual(summary('Pruned 0 empty rooms'));
  });

  describe.each(['migrate', 'prune-presence', 'prune-rooms'])('%s against an unreachable PostgreSQL server', (command) => {
    it('exits 1 within seconds with one "Error:" line on stderr, no stack trace and no password', async () => {
      const result = await presenceAdmin([command, '--database-url', UNREACHABLE]);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: '' });
      expect(result.stderr).toMatch(/^Error: [^\n]*can't reach (the|database) server at `?127\.0\.0\.1:1[^\n]*\n$/i);
      expect(result.stderr).not.toContain('s3cr3t-pw');
      expect(result.ms).toBeLessThan(10_000);
    });

    it('prints the stack trace with DEBUG=1, still without the password', async () => {
      const result = await presenceAdmin([command, '--database-url', UNREACHABLE], { env: { DEBUG: '1' } });
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: '' });
      const [first, ...rest] = result.stderr.trimEnd().split('\n');
      expect(first).toMatch(/^Error: /);
      expect(rest[0]).toMatch(/^PresenceError: /);
      expect(rest.filter((line) => /^ {4}at /.test(line)).length).toBeGreaterThan(0);
      expect(result.stderr).not.toContain('s3cr3t-pw');
    });
  });
});

describe.each(testEngines())('bin/presence-admin.js on %s', (engine) => {
  it('migrates, prunes stale presences, then prunes the emptied room, one summary line each', async () => {
    const url = await emptyDatabase(engine);
    const cli = async (...args: string[]) => outcome(await presenceAdmin([...args, '--database-url', url]));

    expect(await cli('migrate')).toEqual(summary(appliedAll(engine)));

    const stale = createPresence({ databaseUrl: url, now: () => new Date(Date.now() - 120_000) });
    await stale.rooms.add('lobby', 'chan.old');
    await stale.rooms.add('kitchen', 'chan.old');
    await stale.close();
    const fresh = createPresence({ databaseUrl: url });
    await fresh.rooms.add('lobby', 'chan.new', 'alice');
    await fresh.close();

    expect(await cli('prune-presence')).toEqual(summary('Pruned 2 presences from 2 rooms'));
    expect(await cli('prune-rooms')).toEqual(summary('Pruned 1 empty room'));

    const db = await inspect(url);
    try {
      expect(await snapshot(db)).toEqual(['lobby/chan.new=alice']);
      expect(await roomNames(db)).toEqual(['lobby']);
    } finally {
      await db.close();
    }
  });

  it('gates a deploy with status (exit 3, then 0), dry-runs the prunes and reports in JSON for monitoring', async () => {
    const url = await emptyDatabase(engine);
    const cli = async (...args: string[]) => outcome(await presenceAdmin([...args, '--database-url', url]));
    expect((await cli('status')).code).toBe(3);
    expect((await cli('migrate', '--json')).code).toBe(0);
    expect(await cli('status')).toEqual(summary([...migrations(engine).map((name) => `applied  ${name}`), 'Database is up to date'].join('\n')));
    expect(await cli('prune-presence', '--dry-run')).toEqual(summary('Would prune 0 presences from 0 rooms (dry run, nothing changed)'));
    expect(await cli('prune-rooms', '--dry-run')).toEqual(summary('Would prune 0 empty rooms (dry run, nothing changed)'));
    const stats = await cli('stats', '--json');
    expect(stats.stderr).toBe('');
    expect(JSON.parse(stats.stdout)).toMatchObject({ command: 'stats', ok: true, database: engine, total: { rooms: 0, presences: 0 } });
  });

  it('exits quietly when the reader closes stdout (stats | head -c 0)', async () => {
    const url = await emptyDatabase(engine);
    expect((await presenceAdmin(['migrate', '--database-url', url])).code).toBe(0);
    expect(await withClosedStdout(['stats', '--database-url', url])).toEqual({ code: 0, stderr: '' });
    expect(await withClosedStdout(['stats', '--database-url', url, '--json'])).toEqual({ code: 0, stderr: '' });
    expect(await withClosedStdout(['--help'])).toEqual({ code: 0, stderr: '' });
  });

  it('reads the database URL and max age from the environment', async () => {
    const url = await emptyDatabase(engine);
    expect(outcome(await presenceAdmin(['migrate'], { env: { DATABASE_URL: url } }))).toEqual(
      summary(appliedAll(engine)),
    );
    const presence = createPresence({ databaseUrl: url, now: () => new Date(Date.now() - 90_000) });
    await presence.rooms.add('lobby', 'chan.90s');
    await presence.close();

    const env = { PRESENCE_DATABASE_URL: url, DATABASE_URL: 'mysql://user:hunter2@db/app', PRESENCE_MAX_AGE: '120' };
    expect(outcome(await presenceAdmin(['prune-presence'], { env }))).toEqual(summary('Pruned 0 presences from 0 rooms'));
    expect(outcome(await presenceAdmin(['prune-presence'], { env: { ...env, PRESENCE_MAX_AGE: '60' } }))).toEqual(
      summary('Pruned 1 presence from 1 room'),
    );
  });
});
