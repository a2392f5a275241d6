import { readFileSync } from 'node:fs';
import { inspect, parseEnv } from 'node:util';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PresenceError, redactPasswords, withoutTrace } from '../errors.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MAX_AGE } from '../options.js';
import { parseSecondsText } from '../validation.js';
import { parseDatabaseUrl } from '../database/url.js';
import { resolveDatabaseUrl } from '../options.js';
import { EXIT_PENDING, migrateCommand, prunePresenceCommand, pruneRoomsCommand, statsCommand, statusCommand, type CommandResult } from './commands.js';

/** Exit codes of presence-admin (and EXIT_PENDING, 3, from `status`). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Where the CLI writes; the real streams by default, buffers in tests. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const ENVIRONMENT_HELP = `
Environment:
  PRESENCE_DATABASE_URL  database URL when --database-url is not given
  DATABASE_URL           used when PRESENCE_DATABASE_URL is not set
                         (default: ${DEFAULT_DATABASE_URL})
  PRESENCE_MAX_AGE       default for --max-age, in seconds (default: ${DEFAULT_MAX_AGE})
  DEBUG                  print stack traces on failure
  --env-file <path>      reads these from your app's .env file (cron, deploy scripts)

Exit codes:
  0 success (also when there is nothing to do), 1 failure, 2 usage error,
  3 status found pending or failed migrations

Examples:
  npx presence-admin migrate --database-url postgresql://app@localhost:5432/app
  npx presence-admin status || npx presence-admin migrate
  npx presence-admin prune-presence --max-age 90 --json
  npx presence-admin stats --room lobby --room kitchen
  npx presence-admin prune-presence --env-file .env

Crontab (prune every minute):
  * * * * * cd /srv/app && npx presence-admin prune-presence && npx presence-admin prune-rooms
`;

function parseMaxAgeOption(value: string): number {
  try {
    return parseSecondsText(value, '--max-age');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

const maxAgeOption = () =>
  new Option('--max-age <seconds>', 'age after which a presence is stale (default: env PRESENCE_MAX_AGE, then 60)').argParser(parseMaxAgeOption);
const dryRunOption = () => new Option('--dry-run', 'report what would be removed, change nothing');

type Handler = (options: Record<string, unknown>) => Promise<CommandResult>;

/** Builds the commander program; `settle` receives each finished command's exit code. */
export function buildProgram(output: Output, settle: (exitCode: number) => void = () => {}): Command {
  // Commander echoes bad arguments verbatim (e.g. `unknown option '--databse-url=postgresql://app:pw@...'`).
  const streams = { writeOut: output.out, writeErr: (text: string) => output.err(redactPasswords(text)) };
  const program = new Command('presence-admin')
    .description('Maintain prisma-presence tables: migrate them, prune stale presences and empty rooms, inspect them.')
    .version(packageVersion(), '-V, --version')
    .addHelpText('after', ENVIRONMENT_HELP);

  /** Adds a command with the options every command shares, printing its result as text or JSON. */
  const command = (name: string, description: string, handler: Handler) =>
    program
      .command(name)
      .description(description)
      .addOption(
        new Option('--database-url <url>', 'file:<path> (SQLite) or postgresql://... (default: env PRESENCE_DATABASE_URL, DATABASE_URL, then file:./presence.db)'),
      )
      .option('--env-file <path>', "read environment variables from this file first (variables already set win, as with node --env-file)")
      .option('--json', 'print one JSON object (counts, duration, database kind) instead of text')
      .action(async (options: Record<string, unknown> & { databaseUrl?: string; json?: boolean; envFile?: string }) => {
        if (options.envFile !== undefined) loadEnvironmentFile(options.envFile);
        const started = performance.now();
        const result = await handler(options);
        const durationMs = Math.round(performance.now() - started);
        const { dialect } = parseDatabaseUrl(resolveDatabaseUrl(options.databaseUrl));
        output.out(options.json ? `${JSON.stringify({ command: name, ok: true, database: dialect, durationMs, ...result.details })}\n` : `${result.summary}\n`);
        settle(result.exitCode ?? EXIT.ok);
      });

  command('migrate', 'apply the bundled migrations the database lacks (like prisma migrate deploy)', migrateCommand);
  command('status', `list applied and pending migrations, or check tables your own migrations made; exit ${EXIT_PENDING} when any is pending, failed or different`, statusCommand);
  command('prune-presence', 'remove presences not seen for --max-age seconds', prunePresenceCommand)
    .alias('prune-presences')
    .addOption(maxAgeOption())
    .addOption(dryRunOption());
  command('prune-rooms', 'remove rooms that have no presences', pruneRoomsCommand).addOption(dryRunOption());
  command('stats', 'count rooms, presences, users, anonymous and stale presences, per room and in total', statsCommand)
    .option('--room <name...>', 'only these rooms')
    .addOption(maxAgeOption());

  for (const each of [program, ...program.commands]) {
    each.exitOverride().configureOutput(streams).showHelpAfterError('(run with --help for usage)');
  }
  return program;
}

/** Runs presence-admin with `argv` (without node and script) and returns the exit code. */
export async function run(argv: string[], output: Output = processOutput): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(output, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "fail" with exit code 0; commander already printed its message.
      if (error.exitCode === 0) return EXIT.ok;
      if (argv.includes('--json')) output.out(jsonFailure(argv, 'INVALID_ARGUMENT', redactPasswords(error.message.replace(/^error: /, ''))));
      return EXIT.usage;
    }
    const message = describeFailure(error);
    if (argv.includes('--json')) output.out(jsonFailure(argv, error instanceof PresenceError ? error.code : 'FAILED', message));
    output.err(`Error: ${message}\n`);
    if (process.env.DEBUG) output.err(`${redactPasswords(debugTrace(error))}\n`);
    return isUsageError(error) ? EXIT.usage : EXIT.failure;
  }
}

/** The one JSON line a failed command prints with --json, usage errors included. */
function jsonFailure(argv: string[], code: string, message: string): string {
  return `${JSON.stringify({ command: argv.find((word) => !word.startsWith('-')) ?? null, ok: false, error: { code, message } })}\n`;
}

/** Adds the file's variables to process.env, leaving those already set alone (what `node --env-file` does). */
function loadEnvironmentFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as { code?: unknown }).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new PresenceError('INVALID_ARGUMENT', `cannot read the environment file ${path}: ${reason}`);
  }
  // Node's own parser (process.loadEnvFile exits the process when the file is missing).
  for (const [name, value] of Object.entries(parseEnv(text))) process.env[name] ??= value;
}

function isUsageError(error: unknown): boolean {
  return error instanceof PresenceError && (error.code === 'INVALID_ARGUMENT' || error.code === 'UNSUPPORTED_DATABASE');
}

/** The error's stack and those of its causes, for DEBUG. */
function debugTrace(error: unknown): string {
  const traces: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    traces.push(`${depth === 0 ? '' : 'Caused by: '}${current instanceof Error ? (current.stack ?? current.message) : inspect(current)}`);
  }
  return traces.join('\n');
}

/** One line: a PresenceError's whole message, or the last line of a driver's multi-line one; never a trace. */
function describeFailure(error: unknown): string {
  const message = withoutTrace(error instanceof Error ? error.message : String(error));
  const line = error instanceof PresenceError ? message.replace(/\s*\n\s*/g, ' ') : message.split('\n').filter(Boolean).at(-1);
  return redactPasswords(line || 'unknown failure');
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

function packageVersion(): string {
  const manifest = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
}
