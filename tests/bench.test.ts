// The benchmark script runs end to end at a tiny N and writes a complete report. This
// checks the report's shape, never the speed. The script checks the workload's results
// itself (rows pruned, rooms pruned, users found) and exits non-zero when one is off.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { SIDES, STEPS, type BenchReport } from '../scripts/bench.ts';
import { testEngines } from './support/engines.ts';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);
// Small enough to keep the test fast (it makes 3 x 20 N heartbeats per engine, and the
// write-cost measurement waits 3 s): one room.
const N = 100;
const engines = testEngines();

describe('scripts/bench.ts', () => {
  it(`runs the whole workload at N=${N} on ${engines.join(' and ')} and writes every step as JSON`, { timeout: 55_000 }, async () => {
    const out = join(scratchDir('bench'), 'nested', 'bench.json');
    const args = ['--import', 'tsx', 'scripts/bench.ts', '--n', String(N), '--engines', engines.join(','), '--out', out, '--warmup', '0'];
    const postgresUrl = inject('postgresUrl');
    if (engines.includes('postgresql')) {
      expect(postgresUrl, 'the global setup starts a PostgreSQL server').toBeTruthy();
      args.push('--postgres-url', postgresUrl);
    }
    const { stdout } = await run(process.execPath, args, { timeout: 50_000, maxBuffer: 16 * 1024 * 1024 });

    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.meta.ns).toEqual([N]);
    expect(report.meta.engines).toEqual(engines);
    expect(report.runs.map((r) => [r.engine, r.n])).toEqual(engines.map((engine) => [engine, N]));

    for (const result of report.runs) {
      expect(result.rooms).toBe(1);
      expect(result.durationMs).toBeGreaterThan(0);
      // Every process reports its own peak; peakRssBytes is the library sides' larger one.
      expect(Object.keys(result.peakRss).sort()).toEqual(['coordinator', 'migration', 'ours', 'oursUrl', 'raw']);
      for (const bytes of Object.values(result.peakRss)) expect(bytes).toBeGreaterThan(0);
      expect(result.peakRssBytes).toBe(Math.max(result.peakRss.ours, result.peakRss.oursUrl));
      expect(result.steps.map((s) => s.step)).toEqual([...STEPS]);
      const ops = Object.fromEntries(result.steps.map((s) => [s.step, s.ops]));
      expect(ops).toEqual({
        add: N,
        touch: N,
        roomQueries: 2,
        prunePresences: N / 2,
        leaveAll: N / 2,
        pruneRooms: 1,
        heartbeat: 10 * N,
        heartbeatUnbuffered: 10 * N,
      });
      for (const step of result.steps) {
        const where = `${result.engine} ${step.step}`;
        for (const name of SIDES) {
          const side = step[name];
          expect(side.ms, `${where} ${name}`).toBeGreaterThan(0);
          expect(side.opsPerSec, `${where} ${name}`).toBeGreaterThan(0);
          expect(Number.isFinite(side.opsPerSec), `${where} ${name}`).toBe(true);
          if (name === 'oursUrl') {
            // The library's own connection: its statements cannot be counted from outside.
            expect(side.statements).toBeNull();
          } else {
            expect(side.statements, `${where} ${name}`).toBeGreaterThan(0);
            expect(side.statementsPerOp, `${where} ${name}`).toBeGreaterThan(0);
          }
        }
        for (const ratio of [step.ratio, step.ratioUrl]) {
          expect(Number.isFinite(ratio) && ratio > 0, `${where} ratio ${ratio}`).toBe(true);
        }
      }
      // Each heartbeat costs the raw side one UPDATE; the library's count comes from the
      // client's query events: one per message unbuffered, per flush when buffered.
      const count = (name: string) => result.steps.find((s) => s.step === name)!;
      expect(count('heartbeat').raw.statements).toBe(10 * N);
      expect(count('heartbeatUnbuffered').raw.statements).toBe(10 * N);
      expect(count('heartbeatUnbuffered').ours.statements).toBe(10 * N);
      expect(count('heartbeat').ours.statements).toBeGreaterThanOrEqual(1);
      expect(count('touch').ours.statements).toBe(N);

      // Liveness against coalesced heartbeats, counted by kind on the ours side.
      const cost = result.writeCost;
      expect(cost).toMatchObject({ connections: N, intervalSeconds: 1, intervals: 3, otherStatements: 0 });
      expect(cost.livenessStatements).toBeGreaterThanOrEqual(1);
      expect(cost.heartbeatStatements).toBeGreaterThanOrEqual(1);
      expect(cost.seconds).toBeGreaterThan(2.9); // 3 intervals; timers may fire a millisecond early
      expect(cost.livenessPerConnectionInterval).toBeCloseTo(cost.livenessStatements / (N * cost.seconds), 5);
      expect(cost.heartbeatPerConnectionInterval).toBeCloseTo(cost.heartbeatStatements / (N * 3), 6);
    }

    // The tables printed per engine.
    for (const engine of engines) expect(stdout).toContain(`== ${engine}`);
    expect(stdout).toContain('ours/raw');
    expect(stdout).toMatch(/write cost per connection per interval \(100 connections, .*\): liveness [\d.]+ \(\d+ writes\), coalesced heartbeats [\d.]+ \(\d+ writes\)/);
    expect(stdout).toMatch(/peak RSS per process: ours \d+ MB, oursUrl \d+ MB \(library max \d+ MB\), raw \d+ MB, migration \d+ MB, coordinator \d+ MB/);
  });
});
