/**
 * Throwaway PostgreSQL server for the test suite and benchmark.
 *
 * Each call to startPostgresServer() runs `initdb` into a fresh temp directory and
 * starts a private postmaster on a free 127.0.0.1 port (never 5432), with durability
 * switched off for speed. Nothing here depends on a server started by hand.
 *
 * When running as root (e.g. in CI containers) initdb/pg_ctl are run as the `postgres`
 * OS user, because PostgreSQL refuses to run as root.
 */
import { execFile as execFileCb, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

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
  'max_connections=200',
];

const liveServers = new Set<{ stopSync(): void }>();
let exitHookInstalled = false;

/** Starts a fresh PostgreSQL server on a free local port; rejects with the server log tail if it fails. */
export async function startPostgresServer(): Promise<PostgresServer> {
  const binDir = await findBinDir();
  const runner = await makeRunner();
  const baseDir = await mkdtemp(path.join(os.tmpdir(), 'pgtest-'));
  const dataDir = path.join(baseDir, 'data');
  const logFile = path.join(baseDir, 'server.log');
  const pgCtl = path.join(binDir, 'pg_ctl');

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
      const opts = [...SERVER_SETTINGS.map((s) => `-c ${s}`), `-p ${port}`, `-k ${baseDir}`].join(' ');
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

/** Finds the PostgreSQL bin directory: $POSTGRES_BIN_DIR, Debian's /usr/lib/postgresql/<newest>/bin, or pg_config. */
async function findBinDir(): Promise<string> {
  const fromEnv = process.env.POSTGRES_BIN_DIR;
  if (fromEnv) return fromEnv;
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => existsSync(path.join(debianRoot, v, 'bin', 'initdb')))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
    if (versions.length > 0) return path.join(debianRoot, versions[0]!, 'bin');
  }
  try {
    const { stdout } = await execFile('pg_config', ['--bindir']);
    const dir = stdout.trim();
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  } catch {
    /* not installed */
  }
  throw new Error(
    'PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and `pg_config --bindir`). ' +
      'Install them (e.g. `apt-get install postgresql`) or set POSTGRES_BIN_DIR.',
  );
}

async function makeRunner(): Promise<Runner> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    return {
      run: (bin, args, cwd, timeout) => execFile(bin, args, { cwd, timeout }),
      runSync: (bin, args, cwd) => void spawnSync(bin, args, { cwd, stdio: 'ignore', timeout: 15_000 }),
    };
  }
  let uid: number;
  let gid: number;
  try {
    uid = Number((await execFile('id', ['-u', 'postgres'])).stdout.trim());
    gid = Number((await execFile('id', ['-g', 'postgres'])).stdout.trim());
  } catch {
    throw new Error('Running as root, but there is no `postgres` OS user to run PostgreSQL as (PostgreSQL refuses to run as root).');
  }
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
  const wrap = (bin: string, args: string[]): [string, string[]] =>
    runuser
      ? [runuser, ['-u', 'postgres', '--', bin, ...args]]
      : ['su', ['postgres', '-s', '/bin/sh', '-c', [bin, ...args].map(shellQuote).join(' ')]];
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
