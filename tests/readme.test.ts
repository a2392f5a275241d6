// Every JavaScript snippet in README.md and docs/*.md runs as pasted: saved as an .mjs file inside
// this package (so `import 'prisma-presence'` resolves to the built package by
// self-reference, and socket.io / ws to the dev dependencies), run by node in a folder
// where `presence-admin migrate` has created ./presence.db. A snippet that serves (it
// reads PORT) gets a free port and must accept a WebSocket there, silently.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from './support/realtime.ts';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];
const texts = new Map(pages.map((page) => [page, readFileSync(join(root, page), 'utf8')]));
const RUNNABLE_IMPORTS = new Set(['prisma-presence', 'prisma-presence/socket.io', 'prisma-presence/ws', 'socket.io', 'ws']);
const selfContained = pages.flatMap((page) =>
  [...texts.get(page)!.matchAll(/```js\n([\s\S]*?)```/g)]
    .map((match, i) => ({ page, index: i + 1, code: match[1]! }))
    .filter(({ code }) =>
      [...code.matchAll(/from '([^']+)'/g)].every(([, module]) => RUNNABLE_IMPORTS.has(module!) || module!.startsWith('node:')),
    ),
);
const scratch = join(root, '.readme-snippets');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
const anchor = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');

describe('CLI reference', () => {
  it('shows the literal output of presence-admin --help, on one page', async () => {
    const shown = pages.flatMap((page) => texts.get(page)!.match(/```text\n\$ npx presence-admin --help\n([\s\S]*?)```/)?.[1] ?? []);
    const { stdout } = await run(process.execPath, [join(root, 'bin', 'presence-admin.js'), '--help']);
    expect(shown).toEqual([stdout]);
  });
});

describe('documentation links', () => {
  it.each(pages)('%s links only to files and headings that exist', (page) => {
    const text = texts.get(page)!;
    const broken = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
      .map(([, target]) => target!)
      .filter((target) => !/^[a-z]+:/.test(target))
      .filter((target) => {
        const [file, hash] = target.split('#') as [string, string | undefined];
        const path = file ? join(root, dirname(page), file) : join(root, page);
        if (!existsSync(path)) return true;
        if (hash === undefined) return false;
        const headings = [...readFileSync(path, 'utf8').matchAll(/^#+ (.*)$/gm)].map(([, heading]) => anchor(heading!));
        return !headings.includes(hash);
      });
    expect(broken).toEqual([]);
  });

  it('README.md links every docs page', () => {
    const linked = new Set([...texts.get('README.md')!.matchAll(/\]\((docs\/[^)#]+)\)/g)].map(([, target]) => target));
    expect(pages.filter((page) => page.startsWith('docs/') && !linked.has(page))).toEqual([]);
  });
});

/**
 * Starts a serving snippet on a free port and waits until a WebSocket handshake with it
 * succeeds at `path` (or it exits): is it still up then, and what did it print on stderr?
 */
async function servesQuietly(file: string, cwd: string, env: Record<string, string>, path: string) {
  const port = await freePort();
  const child = spawn(process.execPath, [file], { cwd, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const running = () => child.exitCode === null && child.signalCode === null;
  try {
    await eventually(async () => !running() || (await handshakes(`ws://127.0.0.1:${port}${path}`)), 20_000, 'the snippet to serve');
    return { stillServing: running(), stderr };
  } finally {
    child.kill('SIGKILL');
    if (running()) await once(child, 'exit');
  }
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function handshakes(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      socket.close();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('documentation snippets', () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('has runnable snippets to check', () => {
    expect(selfContained.length).toBeGreaterThanOrEqual(5);
  });

  it.each(selfContained)('$page snippet $index runs as pasted', async ({ page, index, code }) => {
    mkdirSync(scratch, { recursive: true });
    const file = join(scratch, `${page.replace(/[/.]/g, '-')}-${index}.mjs`);
    writeFileSync(file, code);
    const cwd = scratchDir('readme');
    const env = { PATH: process.env.PATH ?? '' };
    await run(process.execPath, [join(root, 'bin', 'presence-admin.js'), 'migrate'], { cwd, env });
    if (code.includes('process.env.PORT')) {
      const path = code.includes("from 'socket.io'") ? '/socket.io/?EIO=4&transport=websocket' : '/';
      expect(await servesQuietly(file, cwd, env, path)).toEqual({ stillServing: true, stderr: '' });
      return;
    }
    const { stderr } = await run(process.execPath, [file], { cwd, env, timeout: 20_000 });
    expect(stderr).toBe('');
  });

  it('includes the realtime server snippets', () => {
    expect(selfContained.filter(({ code }) => code.includes("from 'prisma-presence/")).length).toBe(2);
  });
});
