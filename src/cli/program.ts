import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PresenceError, redactPasswords } from '../errors.js';
import { DEFAULT_DATABASE_URL, DEFAULT_MAX_AGE } from '../options.js';
import { parseMaxAgeText } from '../validation.js';
import { migrateCommand, prunePresenceCommand, pruneRoomsCommand } from './commands.js';

/** Exit codes of presence-admin. */
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

Examples:
  npx presence-admin migrate --database-url postgresql://app@localhost:5432/app
  npx presence-admin prune-presence --max-age 90

Crontab (prune every minute):
  * * * * * cd /srv/app && npx presence-admin prune-presence && npx presence-admin prune-rooms
`;

function databaseUrlOption(): Option {
  return new Option('--database-url <url>', 'file:<path> (SQLite) or postgresql://... (default: env PRESENCE_DATABASE_URL, DATABASE_URL, then file:./presence.db)');
}

function parseMaxAgeOption(value: string): number {
  try {
    return parseMaxAgeText(value, '--max-age');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Builds the commander program; each action prints the summary its command returns. */
export function buildProgram(output: Output): Command {
  // Commander echoes bad arguments verbatim (e.g. `unknown option '--databse-url=postgresql://app:pw@...'`).
  const streams = { writeOut: output.out, writeErr: (text: string) => output.err(redactPasswords(text)) };
  const program = new Command('presence-admin')
    .description('Maintain prisma-presence tables: migrate them, prune stale presences and empty rooms.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', ENVIRONMENT_HELP)
    .exitOverride()
    .configureOutput(streams);

  program
    .command('migrate')
    .description('apply the bundled migrations the database lacks (like prisma migrate deploy)')
    .addOption(databaseUrlOption())
    .action(async (options) => output.out(`${await migrateCommand(options)}\n`));

  program
    .command('prune-presence')
    .alias('prune-presences')
    .description('remove presences not seen for --max-age seconds')
    .addOption(databaseUrlOption())
    .addOption(new Option('--max-age <seconds>', 'age after which a presence is stale (default: env PRESENCE_MAX_AGE, then 60)').argParser(parseMaxAgeOption))
    .action(async (options) => output.out(`${await prunePresenceCommand(options)}\n`));

  program
    .command('prune-rooms')
    .description('remove rooms that have no presences')
    .addOption(databaseUrlOption())
    .action(async (options) => output.out(`${await pruneRoomsCommand(options)}\n`));

  for (const command of program.commands) {
    command.exitOverride().configureOutput(streams).showHelpAfterError('(run with --help for usage)');
  }
  return program;
}

/** Runs presence-admin with `argv` (without node and script) and returns the exit code. */
export async function run(argv: string[], output: Output = processOutput): Promise<number> {
  const program = buildProgram(output);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "fail" with exit code 0; commander already printed its message.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    output.err(`Error: ${describeFailure(error)}\n`);
    if (process.env.DEBUG && error instanceof Error && error.stack) output.err(`${redactPasswords(error.stack)}\n`);
    return isUsageError(error) ? EXIT.usage : EXIT.failure;
  }
}

function isUsageError(error: unknown): boolean {
  return error instanceof PresenceError && (error.code === 'INVALID_ARGUMENT' || error.code === 'UNSUPPORTED_DATABASE');
}

/** One line: a PresenceError's whole message, or the last line of a driver's multi-line one. */
function describeFailure(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).trim();
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
