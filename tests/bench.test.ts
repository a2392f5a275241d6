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
  it(`runs the workload at N=${N} on ${engines.join(' and ')} and writes every step as JSON`, { timeout: 60_000 }, async () => {
    const out = join(scratchDir('bench'), 'nested', 'bench.json');
    const args = ['--import', 'tsx', 'scripts/bench.ts', '--n', String(N), '--engines', engines.join(','), '--out', out];
    if (engines.includes('postgresql')) args.push('--postgres-url', inject('postgresUrl'));
    const { stdout } = await run(process.execPath, args, { timeout: 55_000 });

    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.meta).toMatchObject({ ns: [N], engines });
    expect(report.meta.command).toContain(`--n ${N}`);
    expect(report.runs.map((r) => [r.engine, r.n, r.rooms])).toEqual(engines.map((engine) => [engine, N, 1]));
    for (const result of report.runs) {
      expect(Object.fromEntries(result.steps.map((s) => [s.step, s.ops]))).toEqual({
        add: N,
        touch: N,
        roomQueries: 2,
        prunePresences: N / 2,
        leaveAll: N / 2,
        pruneRooms: 1,
        heartbeat: 10 * N,
      });
      expect(result.steps.map((s) => s.step)).toEqual([...STEPS]);
      for (const step of result.steps) {
        for (const side of SIDES) {
          expect(step[side].opsPerSec, `${result.engine} ${step.step} ${side}`).toBeGreaterThan(0);
          expect(step[side].statements, `${result.engine} ${step.step} ${side}`).toBeGreaterThan(0);
        }
        expect(step.ratio).toBeCloseTo(step.library.opsPerSec / step.raw.opsPerSec, 2);
      }
      // Raw: one UPDATE per heartbeat. The library buffers them: far fewer statements.
      const heartbeat = result.steps.find((s) => s.step === 'heartbeat')!;
      expect(heartbeat.raw.statements).toBe(10 * N);
      expect(heartbeat.library.statements).toBeLessThan(N);
      expect(result.steps.find((s) => s.step === 'touch')!.library.statements).toBe(N);

      const cost = result.writeCost;
      expect(cost).toMatchObject({ connections: N, intervalSeconds: 1, intervals: 3 });
      expect(cost.livenessWrites).toBeGreaterThanOrEqual(1);
      expect(cost.heartbeatWrites).toBeGreaterThanOrEqual(1);
      expect(cost.livenessPerConnectionSecond).toBeCloseTo(cost.livenessWrites / (N * cost.seconds), 5);
      for (const side of SIDES) expect(result.peakRss[side]).toBeGreaterThan(0);
      expect(stdout).toContain(`== ${result.engine}, N=${N}`);
    }
    expect(stdout).toMatch(/peak RSS: library \d+ MB, raw \d+ MB/);
    expect(stdout).toMatch(/liveness [\d.]+ \(\d+ writes\), heartbeats [\d.]+ \(\d+ writes\)/);
  });
});
