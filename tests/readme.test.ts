// Every JavaScript snippet in the README that needs nothing but prisma-presence runs as
// pasted: saved as an .mjs file inside this package (so `import 'prisma-presence'`
// resolves to the built package by self-reference), run by node in a folder where
// `presence-admin migrate` has created ./presence.db.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((match) => match[1]!);
const selfContained = snippets.filter((code) => [...code.matchAll(/from '([^']+)'/g)].every(([, module]) => module === 'prisma-presence' || module!.startsWith('node:')));
const scratch = join(root, '.readme-snippets');

describe('README CLI reference', () => {
  it('shows the literal output of presence-admin --help', async () => {
    const shown = readme.match(/```text\n\$ npx presence-admin --help\n([\s\S]*?)```/)?.[1];
    const { stdout } = await run(process.execPath, [join(root, 'bin', 'presence-admin.js'), '--help']);
    expect(shown).toBe(stdout);
  });
});

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
    const { stderr } = await run(process.execPath, [file], { cwd, env, timeout: 20_000 });
    expect(stderr).toBe('');
  });
});
