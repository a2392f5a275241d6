// Every JavaScript snippet in the README runs as pasted: saved as an .mjs file inside
// this package (so `import 'prisma-presence'` resolves to the built package by
// self-reference, and socket.io / ws to the dev dependencies), run by node in a folder
// where `presence-admin migrate` has created ./presence.db. A snippet that serves (it
// reads PORT) gets a free port and must still be serving, silently, after two seconds.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1]!);
const RUNNABLE_IMPORTS = new Set(['prisma-presence', 'prisma-presence/socket.io', 'prisma-presence/ws', 'socket.io', 'ws']);
const selfContained = snippets.filter((code) =>
  [...code.matchAll(/from '([^']+)'/g)].every(([, module]) => RUNNABLE_IMPORTS.has(module!) || module!.startsWith('node:')),
);
const scratch = join(root, '.readme-snippets');

describe('README CLI reference', () => {
  it('shows the literal output of presence-admin --help', async () => {
    const shown = readme.match(/```text\n\$ npx presence-admin --help\n([\s\S]*?)```/)?.[1];
    const { stdout } = await run(process.execPath, [join(root, 'bin', 'presence-admin.js'), '--help']);
    expect(shown).toBe(stdout);
  });
});

/** Starts a serving snippet on a free port; after two seconds, is it still up, and what did it print on stderr? */
async function servesQuietly(file: string, cwd: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [file], { cwd, env: { ...env, PORT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const stillServing = child.exitCode === null && child.signalCode === null;
  child.kill('SIGKILL');
  await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
  return { stillServing, stderr };
}

describe('README snippets', () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('has runnable snippets to check', () => {
    expect(selfContained.length).toBeGreaterThanOrEqual(5);
  });

  it.each(selfContained.map((code, i) => [i + 1, code] as const))('snippet %i runs as pasted', async (i, code) => {
    mkdirSync(scratch, { recursive: true });
    const file = join(scratch, `snippet-${i}.mjs`);
    writeFileSync(file, code);
    const cwd = scratchDir('readme');
    const env = { PATH: process.env.PATH ?? '' };
    await run(process.execPath, [join(root, 'bin', 'presence-admin.js'), 'migrate'], { cwd, env });
    if (code.includes('process.env.PORT')) {
      expect(await servesQuietly(file, cwd, env)).toEqual({ stillServing: true, stderr: '' });
      return;
    }
    const { stderr } = await run(process.execPath, [file], { cwd, env, timeout: 20_000 });
    expect(stderr).toBe('');
  });

  it('includes the realtime server snippets', () => {
    expect(selfContained.filter((code) => code.includes("from 'prisma-presence/")).length).toBe(2);
  });
});
