// The benchmark still runs end to end at a tiny N and writes a complete report. Its shape
// is checked here, never its speed; the script checks the workload's results itself
// (rows and rooms pruned, members found) and exits non-zero when one is off.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { SIDES, STEPS, type BenchReport } from '../scripts/bench.ts';
import { testEngines } from './support/engines.ts';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);
const N = 100;
const engines = testEngines();

describe('scripts/bench.ts', () => {
  it(`runs the workload at N=${N} on ${engines.join(' and ')}, prints its table and writes every step as JSON`, { timeout: 60_000 }, async () => {
    const out = join(scratchDir('bench'), 'nested', 'bench.json');
    const args = ['--import', 'tsx', 'scripts/bench.ts', '--n', String(N), '--engines', engines.join(','), '--out', out];
    if (engines.includes('postgresql')) args.push('--postgres-url', inject('postgresUrl'));
    const { stdout } = await run(process.execPath, args, { timeout: 55_000 });

    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.meta).toMatchObject({ n: N, rooms: 1, engines });
    expect(report.meta.command).toContain(`--n ${N}`);
    expect(report.runs.map((r) => r.engine)).toEqual(engines);
    for (const { engine, steps, writeCost, peakRss } of report.runs) {
      expect(Object.keys(steps)).toEqual([...STEPS]);
      expect(Object.fromEntries(STEPS.map((step) => [step, steps[step].ops]))).toEqual({
        add: N,
        touch: N,
        roomQueries: 2,
        prunePresences: N / 2,
        leaveAll: N / 2,
        pruneRooms: 1,
        heartbeat: 10 * N,
      });
      for (const step of STEPS) {
        for (const side of SIDES) {
          expect(steps[step][side].opsPerSec, `${engine} ${step} ${side}`).toBeGreaterThan(0);
          expect(steps[step][side].statements, `${engine} ${step} ${side}`).toBeGreaterThan(0);
        }
        expect(steps[step].ratio).toBeCloseTo(steps[step].library.opsPerSec / steps[step].raw.opsPerSec, 2);
      }
      // Raw: one UPDATE per heartbeat. The library buffers them: far fewer statements.
      expect(steps.heartbeat.raw.statements).toBe(10 * N);
      expect(steps.heartbeat.library.statements).toBeLessThan(N);
      expect(steps.touch.library.statements).toBe(N);

      expect(writeCost.connections).toBe(N);
      expect(writeCost.livenessWrites).toBeGreaterThanOrEqual(1);
      expect(writeCost.heartbeatWrites).toBeGreaterThanOrEqual(1);
      expect(writeCost.livenessPerConnectionSecond).toBeCloseTo(writeCost.livenessWrites / (N * writeCost.seconds), 5);
      for (const side of SIDES) expect(peakRss[side]).toBeGreaterThan(0);
    }
    // One Markdown table: a column pair per engine.
    const names = { sqlite: 'SQLite', postgresql: 'PostgreSQL' };
    expect(stdout).toContain(`| step | ${engines.map((engine) => `${names[engine]} ops/s | vs raw`).join(' | ')} |`);
    expect(stdout).toMatch(/\| `rooms\.add` \| [\d,]+ \| [\d.]+ \|/);
    expect(stdout).toMatch(/\| peak RSS of the process: library \(raw\) \| \d+ MB \(\d+ MB\) \|/);
    expect(stdout).toMatch(/\| liveness writes per connection per second \| [\d.]+ \(\d+ in \d+ s\) \|/);
  });
});
