// presence-admin --env-file: cron jobs and deploy scripts read the application's
// environment file (as `node --env-file` does) instead of falling back to ./presence.db.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.ts';
import { emptyDatabase, testEngines } from './support/databases.ts';
import { scratchDir } from './support/scratch.ts';

const BIN = new URL('../bin/presence-admin.js', import.meta.url).pathname;

/** The real bin in `cwd`, with only PATH and `env` in its environment. */
function presenceAdmin(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (error, out, err) =>
      done({ code: error ? Number(error.code) : 0, out, err }),
    );
  });
}

describe.each(testEngines())('presence-admin --env-file on %s', (engine) => {
  it('takes the database URL from the file for every command, and never creates ./presence.db', async () => {
    const cwd = scratchDir('env-file');
    const url = await emptyDatabase(engine);
    writeFileSync(join(cwd, '.env'), `# the app's environment\nDATABASE_URL="${url}"\nPRESENCE_MAX_AGE=90\n`);

    expect(await presenceAdmin(cwd, ['migrate', '--env-file', '.env'])).toMatchObject({ code: 0, out: expect.stringMatching(/^Applied \d+ migrations/), err: '' });
    expect(await presenceAdmin(cwd, ['status', '--env-file', '.env'])).toMatchObject({ code: 0, out: expect.stringContaining('Database is up to date') });
    const pruned = await presenceAdmin(cwd, ['prune-presence', '--env-file', '.env', '--json']);
    expect(JSON.parse(pruned.out)).toMatchObject({ ok: true, database: engine, presences: 0, maxAge: 90 });
    expect(existsSync(join(cwd, 'presence.db'))).toBe(false);
  });

  it('in process (where Node has not read the flag itself) the command reads the file too', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.PRESENCE_DATABASE_URL;
      delete process.env.DATABASE_URL;
      const path = join(scratchDir('env-file'), '.env');
      writeFileSync(path, `PRESENCE_DATABASE_URL=${await emptyDatabase(engine)}\n`);
      expect(await cli('migrate', '--env-file', path, '--json')).toMatchObject({ code: 0, out: expect.stringContaining(`"database":"${engine}"`) });
    } finally {
      process.env = saved;
    }
  });

  it('a variable already set in the environment wins over the file, as with node --env-file', async () => {
    const cwd = scratchDir('env-file');
    const url = await emptyDatabase(engine);
    writeFileSync(join(cwd, 'app.env'), 'PRESENCE_DATABASE_URL=file:./from-file.db\n');
    expect(await presenceAdmin(cwd, ['migrate', '--env-file', 'app.env'], { PRESENCE_DATABASE_URL: url })).toMatchObject({ code: 0, err: '' });
    expect(existsSync(join(cwd, 'from-file.db'))).toBe(false);
  });
});

describe('presence-admin --env-file with a missing file', () => {
  it('exits 2 with one line naming the file', async () => {
    expect(await cli('prune-rooms', '--env-file', join(scratchDir('env-file'), 'missing.env'))).toEqual({
      code: 2,
      out: '',
      err: expect.stringMatching(/^Error: cannot read the environment file \/[^\n]*\/missing\.env: no such file\n$/),
    });
  });

  it('the real bin fails in one line naming the file and creates no database (Node 20 itself reads --env-file anywhere in argv)', async () => {
    const cwd = scratchDir('env-file');
    const result = await presenceAdmin(cwd, ['prune-rooms', '--env-file', 'missing.env']);
    expect(result.code).not.toBe(0);
    expect(result.out).toBe('');
    expect(result.err).toMatch(/^[^\n]*missing\.env[^\n]*\n$/);
    expect(existsSync(join(cwd, 'presence.db'))).toBe(false);
  });
});
