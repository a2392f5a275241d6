import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

describe('npm start', () => {
  it('runs the demo on SQLite to the end and exits 0', async () => {
    const databaseUrl = `file:${join(scratchDir('demo'), 'demo.db')}`;
    const { stdout } = await run('npm', ['start', '--silent'], {
      cwd: root,
      env: { ...process.env, PRESENCE_DATABASE_URL: databaseUrl },
      timeout: 60_000,
    });
    expect(stdout).toContain('event: chan.alice (alice) joined lobby');
    expect(stdout).toContain('lobby: users [alice, bob], anonymous 1');
    expect(stdout).toContain('event: stale presences pruned from lobby');
    expect(stdout).toContain('lobby: users [bob], anonymous 0');
    expect(stdout).toContain('pruned 1 empty room(s)');
    expect(stdout).toContain('Done.');
  });
});
