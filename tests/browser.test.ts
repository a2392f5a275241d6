// End to end: the live demo's server (examples/demo) as a child process on its own SQLite
// file, and its room page in headless Chromium, one browser profile per visitor.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPresence, type PresenceTracker } from '../src/index.ts';
import { launchChromium, root, startDemo, until, type DemoProcess } from './support/browser.ts';
import { presenceAdmin } from './support/cli.ts';
import { scratchDir } from './support/scratch.ts';

// Seconds. Pages heartbeat every second, the server prunes every 0.75 s: a page that
// falls silent disappears within about 4 s, and a live one has a wide margin.
const MAX_AGE = 3;
const PRUNED_WITHIN_MS = 10_000;

describe('the live demo in Chromium', () => {
  let browser: Browser;
  let demo: DemoProcess;
  let contexts: BrowserContext[] = [];
  let pageErrors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium(); // first: a missing Chromium fails the file at once
    demo = await startDemo(join(root, 'node_modules', '.bin', 'tsx'), ['examples/demo/server.ts'], {
      PORT: '0',
      PRESENCE_DATABASE_URL: `file:${join(scratchDir('browser'), 'demo.db')}`,
      PRESENCE_MAX_AGE: String(MAX_AGE),
    });
  });

  afterEach(async () => {
    for (const context of contexts) await context.close();
    contexts = [];
    expect(pageErrors).toEqual([]);
    pageErrors = [];
  });

  afterAll(async () => {
    await browser?.close();
    if (demo) expect(await demo.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  /** A visitor with a browser profile of its own, present in `room` under `name` ('' for anonymous). */
  async function visit(room: string, name: string, query = ''): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 680 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${name || 'anonymous'}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`${name || 'anonymous'}: ${message.text()}`);
    });
    await page.goto(`${demo.url}/?room=${room}${query}`);
    await until(() => status(page), 'joined', `${name || 'anonymous'} to join #${room}`);
    if (name) {
      await page.getByTestId('name-input').fill(name);
      await page.getByTestId('name-input').press('Enter');
    }
    return page;
  }

  const status = (page: Page) => page.getByTestId('status').getAttribute('data-state');

  /** Who the page shows as present. */
  async function roster(page: Page): Promise<{ names: string[]; anonymous: number }> {
    const names = await page.getByTestId('member-name').allTextContents();
    return { names, anonymous: Number(await page.getByTestId('anonymous').getAttribute('data-count')) };
  }

  async function say(page: Page, text: string): Promise<void> {
    await page.getByTestId('message-input').fill(text);
    await page.getByTestId('message-input').press('Enter');
  }

  async function messages(page: Page): Promise<string[]> {
    const from = await page.getByTestId('message-from').allTextContents();
    const texts = await page.getByTestId('message-text').allTextContents();
    return texts.map((text, i) => `${from[i]}: ${text}`);
  }

  it('visitors of a room see each other and their messages live; a closed tab leaves at once', async () => {
    const alice = await visit('lobby', 'alice');
    const bob = await visit('lobby', 'bob');
    await visit('lobby', '');
    for (const page of [alice, bob]) {
      await until(() => roster(page), { names: ['alice', 'bob'], anonymous: 1 }, 'alice, bob and a guest in #lobby');
    }

    await say(bob, 'Hello from Bob');
    await say(alice, 'Hi Bob!');
    for (const page of [alice, bob]) {
      await until(() => messages(page), ['bob: Hello from Bob', 'alice: Hi Bob!'], 'both messages on both pages');
    }
    mkdirSync(join(root, 'test-artifacts'), { recursive: true });
    await alice.screenshot({ path: join(root, 'test-artifacts', 'room-page.png') });

    await bob.context().close();
    await until(() => roster(alice), { names: ['alice'], anonymous: 1 }, 'bob gone from alice’s page');
  });

  it('a new name and a room switch show on the other pages', async () => {
    const carol = await visit('kitchen', 'carol');
    const dave = await visit('kitchen', 'dave');
    await until(() => roster(carol), { names: ['carol', 'dave'], anonymous: 0 }, 'carol and dave in #kitchen');

    await dave.getByTestId('name-input').fill('dan');
    await dave.getByTestId('name-save').click();
    await until(() => roster(carol), { names: ['carol', 'dan'], anonymous: 0 }, 'dave renamed dan on carol’s page');

    await dave.getByTestId('room-input').fill('attic');
    await dave.getByTestId('room-input').press('Enter');
    await until(() => roster(carol), { names: ['carol'], anonymous: 0 }, 'dan gone from #kitchen');
    await until(() => roster(dave), { names: ['dan'], anonymous: 0 }, 'dan alone in #attic');
    expect(await dave.getByTestId('room-title').textContent()).toBe('#attic');
    expect(new URL(dave.url()).searchParams.get('room')).toBe('attic');
  });

  it('a page that stops heartbeating is pruned: it vanishes from the others and is told so', async () => {
    const erin = await visit('cellar', 'erin');
    const ghost = await visit('cellar', 'ghost', '&heartbeat=off');
    const notes = () => erin.getByTestId('note').allTextContents();

    // The log keeps both events, so neither can be missed between two polls.
    // Erin's own join note may be merged away when both joins land in one broadcast.
    const ghostNotes = async () => (await notes()).filter((note) => note.startsWith('ghost'));
    await until(ghostNotes, ['ghost joined', 'ghost left'], 'ghost pruned on erin’s page', PRUNED_WITHIN_MS);
    expect(await roster(erin)).toEqual({ names: ['erin'], anonymous: 0 });
    expect(await status(erin)).toBe('joined'); // heartbeats kept erin present all along
    await until(() => status(ghost), 'pruned', 'the ghost page to learn it was pruned');
    expect(await ghost.getByTestId('pruned-banner').isVisible()).toBe(true);

    await ghost.getByTestId('rejoin').click();
    await until(() => roster(erin), { names: ['erin', 'ghost'], anonymous: 0 }, 'ghost back after rejoining');
    expect(await ghost.getByTestId('pruned-banner').isVisible()).toBe(false);
  });

  it('a prune run through the real presence-admin bin, as from cron, updates a connected page (event sharing)', async () => {
    // A demo of its own, sharing events through its own SQLite file. Its max age is long,
    // so neither its pruner nor its heartbeats act during the test: only the bin prunes.
    const databaseUrl = `file:${join(scratchDir('browser-cron'), 'demo.db')}`;
    const sharing = await startDemo(join(root, 'node_modules', '.bin', 'tsx'), ['examples/demo/server.ts'], {
      PORT: '0',
      PRESENCE_DATABASE_URL: databaseUrl,
      PRESENCE_MAX_AGE: '600',
      PRESENCE_SHARE_EVENTS: '1',
    });
    const trackers: PresenceTracker[] = [];
    let exit: Awaited<ReturnType<DemoProcess['stop']>> | undefined;
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 680 } });
      contexts.push(context);
      const frank = await context.newPage();
      frank.on('pageerror', (error) => pageErrors.push(`frank: ${error.message}`));
      frank.on('console', (message) => {
        if (message.type() === 'error') pageErrors.push(`frank: ${message.text()}`);
      });
      await frank.goto(`${sharing.url}/?room=porch`);
      await until(() => status(frank), 'joined', 'frank to join #porch');
      await frank.getByTestId('name-input').fill('frank');
      await frank.getByTestId('name-input').press('Enter');
      await until(() => roster(frank), { names: ['frank'], anonymous: 0 }, 'frank alone in #porch');

      // The demo hears only changes committed after its reader started: first make sure a
      // change made now, in this process, reaches the page.
      const writer = createPresence({ databaseUrl, shareEvents: true });
      trackers.push(writer);
      for (let attempt = 1; ; attempt++) {
        const channel = `chan.sentinel.${attempt}`;
        await writer.rooms.add('porch', channel, 'sentinel');
        const shown = await until(() => roster(frank), { names: ['frank', 'sentinel'], anonymous: 0 }, 'the sentinel', 1000).then(
          () => true,
          () => false,
        );
        await writer.rooms.remove('porch', channel);
        if (shown) break;
        if (attempt === 10) throw new Error(`the demo never showed the sentinel; its output:\n${sharing.output()}`);
      }
      await until(() => roster(frank), { names: ['frank'], anonymous: 0 }, 'the sentinel gone');

      // A presence whose clock is two minutes behind: stale for the bin's default max age (60 s).
      const stale = createPresence({ databaseUrl, shareEvents: true, now: () => new Date(Date.now() - 120_000) });
      trackers.push(stale);
      await stale.rooms.add('porch', 'chan.ghost', 'ghost');
      await until(() => roster(frank), { names: ['frank', 'ghost'], anonymous: 0 }, 'ghost on frank’s page');

      // Cron: the real bin, with nothing but PATH and the switch in its environment.
      const result = await presenceAdmin(['prune-presence', '--database-url', databaseUrl], { env: { PRESENCE_SHARE_EVENTS: '1' } });
      expect(result).toEqual({ code: 0, stdout: 'Pruned 1 presence from 1 room\n', stderr: '' });
      await until(() => roster(frank), { names: ['frank'], anonymous: 0 }, 'ghost gone from frank’s page after the cron prune');
      expect(await frank.getByTestId('note').allTextContents()).toEqual(expect.arrayContaining(['ghost joined', 'ghost left']));
      expect(await status(frank)).toBe('joined'); // the bin pruned only the stale presence
      mkdirSync(join(root, 'test-artifacts'), { recursive: true });
      await frank.screenshot({ path: join(root, 'test-artifacts', 'cron-prune.png') });
      expect(sharing.output()).not.toMatch(/presence error/);
    } finally {
      await Promise.all(trackers.map((tracker) => tracker.close()));
      for (const context of contexts) await context.close();
      contexts = [];
      exit = await sharing.stop('SIGTERM');
    }
    expect(exit).toEqual({ code: 0, signal: null }); // after the finally, so it never hides the failure that got there
  });
});
