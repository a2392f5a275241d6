// presence-admin --env-file: cron jobs and deploy scripts read the application's
// environment file (as `node --env-file` does) instead of falling back to ./presence.db.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, presenceAdmin } from './support/cli.ts';
import { emptyDatabase, testEngines } from './support/databases.ts';
import { scratchDir } from './support/scratch.ts';

describe.each(testEngines())('presence-admin --env-file on %s', (engine) => {
  it('takes the database URL from the file for every command, and never creates ./presence.db', async () => {
    const cwd = scratchDir('env-file');
    const url = await emptyDatabase(engine);
    writeFileSync(join(cwd, '.env'), `# the app's environment\nDATABASE_URL="${url}"\nPRESENCE_MAX_AGE=90\n`);

    expect(await presenceAdmin(['migrate', '--env-file', '.env'], { cwd })).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Applied \d+ migrations/), stderr: '' });
    expect(await presenceAdmin(['status', '--env-file', '.env'], { cwd })).toMatchObject({ code: 0, stdout: expect.stringContaining('Database is up to date') });
    const pruned = await presenceAdmin(['prune-presence', '--env-file', '.env', '--json'], { cwd });
    expect(JSON.parse(pruned.stdout)).toMatchObject({ ok: true, database: engine, presences: 0, maxAge: 90 });
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
    expect(await presenceAdmin(['migrate', '--env-file', 'app.env'], { cwd, env: { PRESENCE_DATABASE_URL: url } })).toMatchObject({ code: 0, stderr: '' });
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
    const result = await presenceAdmin(['prune-rooms', '--env-file', 'missing.env'], { cwd });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^[^\n]*missing\.env[^\n]*\n$/);
    expect(existsSync(join(cwd, 'presence.db'))).toBe(false);
  });
});
