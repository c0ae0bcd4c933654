/**
 * `ringwire-bench run FILE`: the compiled command in a child process, real loopback
 * sockets against a real ringwire echo server (started by the harness's own targets),
 * the scenario files in fixtures/. Needs `npm run build` first (npm test does it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { samplesOf } from './fixtures/fixed-samples.js';
import type { ScenarioReport } from './scenario/run-scenario.js';
import { runCli, withTarget } from './test-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringwire-bench-scenario-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
let runs = 0;

/** Runs `run FILE args…` with --json; resolves the exit status, the output and the report. */
async function runScenario(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; report: ScenarioReport }> {
  const json = join(tmp, `run-${++runs}.json`);
  const result = await runCli(['run', fixture(file), '--quiet', '--json', json, ...args], 60_000);
  let report: ScenarioReport;
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport;
  } catch {
    throw new Error(`no report (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return { ...result, report };
}

/** The exact value at `percentile` of `samples`: the smallest one with that share at or below it. */
function exactPercentile(samples: number[], percentile: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((percentile / 100) * sorted.length));
  return sorted[rank - 1];
}

describe('ringwire-bench run', () => {
  it('runs bots against a ringwire echo server: custom trends, counters, rates and checks, thresholds that pass exit 0', async () => {
    await withTarget('ringwire-2', 2, async (target) => {
      const { code, stdout, report } = await runScenario('echo-check.ts', ['--port', String(target.port)]);
      expect(code, stdout).toBe(0);
      const { summary } = report;
      expect(summary.counters.bots_connected.count).toBe(4);
      const sent = summary.counters.datagrams_sent.count;
      expect(sent).toBeGreaterThan(4 * 30); // 4 bots × 50/s × 1 s, less the connect time
      // Every echo came back (a grace period of 500 ms), each to the bot that sent it, in order.
      expect(summary.counters.echoes.count).toBe(sent);
      expect(summary.counters.datagrams_received.count).toBe(sent);
      expect(summary.trends.echo_ms.count).toBe(sent);
      expect(summary.checks['echo is mine']).toMatchObject({ passes: sent, total: sent, rate: 1 });
      expect(summary.rates.in_order).toMatchObject({ passes: sent, total: sent });
      expect(summary.counters.errors.count).toBe(0);
      expect(report.thresholds.map((t) => [t.metric, t.source, t.ok])).toEqual([
        ['echo_ms', 'p(99) < 5000', true],
        ['checks', 'rate == 1', true],
        ['errors', 'count == 0', true],
      ]);
      expect(stdout).toMatch(/✓ echo_ms: p\(99\) < 5000/);
      // Each point of the series is one second of the run: about 4 bots × 50/s sent, never
      // two seconds' worth (a tick may come a little late on a busy machine: 25 % slack).
      expect(report.series.length).toBeGreaterThanOrEqual(1);
      for (const point of report.series) expect(point.sentPerSecond).toBeLessThanOrEqual(4 * 50 * 1.25);
      expect(report.series.reduce((sum, point) => sum + point.sentPerSecond, 0)).toBe(sent);
      expect(stdout).toMatch(/check: echo is mine\s+100\.00 %/);
    });
  });

  it('exits 99 when a threshold fails, from the file or from --threshold, and marks it ✗', async () => {
    await withTarget('ringwire-2', 2, async (target) => {
      const { code, stdout, report } = await runScenario('echo-check.ts', ['--port', String(target.port), '-c', '2', '--threshold', 'echo_ms:p(50) < 0.0001']);
      expect(code).toBe(99);
      const failed = report.thresholds.filter((t) => !t.ok);
      expect(failed.map((t) => `${t.metric}: ${t.source}`)).toEqual(['echo_ms: p(50) < 0.0001']);
      expect(stdout).toMatch(/✗ echo_ms: p\(50\) < 0\.0001/);
    });
  });

  it('ends the run early when a threshold with abortOnFail fails, and exits 99', async () => {
    const { code, report } = await runScenario('abort-on-errors.ts', []);
    expect(code).toBe(99);
    expect(report.abortedBy).toMatchObject({ metric: 'errors', ok: false });
    expect(report.durationSeconds).toBeLessThan(10); // of 20 s planned
    expect(report.summary.counters.errors.count).toBeGreaterThan(0);
  });

  it('merges exactly: --processes 2 gives the totals of one process, and percentiles of all raw samples', async () => {
    const one = await runScenario('fixed-samples.ts', []);
    const two = await runScenario('fixed-samples.ts', ['--processes', '2']);
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    expect(two.report.generators).toBe(2);
    expect(two.report.metrics.length).toBe(2);
    const samples = Array.from({ length: 10 }, (_, id) => samplesOf(id)).flat();
    for (const { report } of [one, two]) {
      expect(report.summary.counters.samples.count).toBe(2000);
      expect(report.summary.counters.bots_started.count).toBe(10);
      expect(report.summary.trends.sample.count).toBe(2000);
    }
    // The same samples, whichever process recorded them: the same histogram.
    expect(two.report.summary.trends.sample).toEqual(one.report.summary.trends.sample);
    // …and its percentiles are the raw samples' to the histogram's three significant digits.
    const trend = two.report.summary.trends.sample;
    for (const [percentile, value] of [[50, trend.p50], [90, trend.p90], [99, trend.p99], [99.9, trend.p999], [100, trend.max]] as const) {
      const exact = exactPercentile(samples, percentile);
      expect(Math.abs(value! - exact) / exact, `p${percentile}: ${value} vs ${exact}`).toBeLessThan(0.002);
    }
    // A gauge is summed over generators: each process's last bot id.
    expect(one.report.summary.gauges.last_bot.value).toBe(9);
    expect(two.report.summary.gauges.last_bot.value).toBe(8 + 9);
  });

  it('counts a bot that throws and ends it; the other bots go on', async () => {
    const { code, report } = await runScenario('throwing-bots.ts', []);
    expect(code).toBe(0);
    expect(report.summary.counters.errors.count).toBe(3);
    // The three were replaced (the run holds 6 bots), and their replacements did not throw.
    expect(report.summary.counters.bots_started.count).toBe(9);
    expect(report.summary.gauges.bots.max).toBe(6);
    expect(report.summary.counters.ticks.count).toBeGreaterThan(6 * 15);
    // What they threw is in the report, by message.
    expect(report.errors).toEqual({ 'Error: bot 0 gives up': 1, 'Error: bot 1 gives up': 1, 'Error: bot 2 gives up': 1 });
  });

  it('forgets what the warm-up measured (but for errors), and says why a threshold has no value', async () => {
    const { code, report, stdout } = await runScenario('fixed-samples.ts', [
      '--warmup',
      '300ms',
      '--threshold',
      'sample:count == 0',
      '--threshold',
      'no_such_metric:p(99) < 1',
      '--threshold',
      'samples:p(99) < 1',
    ]);
    expect(code).toBe(99);
    // Every sample was recorded at the bots' start, in the warm-up.
    expect(report.summary.trends.sample.count).toBe(0);
    expect(report.summary.counters.samples.count).toBe(0);
    expect(report.summary.counters.bots_started.count).toBe(10);
    expect(report.thresholds.map((t) => [t.ok, t.note])).toEqual([
      [true, undefined],
      [false, 'no metric named no_such_metric (yet)'],
      [false, 'p(N) does not apply to a counter: use count, rate'],
    ]);
    expect(stdout).toMatch(/✗ samples: p\(99\) < 1 {2}\(p\(N\) does not apply to a counter/);
  });

  it('every() reports lateness when the process is starved, and makes the missed calls late rather than skipping them', async () => {
    const { code, report } = await runScenario('starved-bot.ts', []);
    expect(code).toBe(0);
    const lag = report.summary.trends.schedule_lag;
    expect(lag.max!).toBeGreaterThan(250);
    expect(lag.max!).toBeLessThan(1000);
    // 100 calls are due in 1 s; the ones due while blocked came late, none was dropped.
    expect(report.summary.counters.calls.count).toBeGreaterThanOrEqual(95);
    expect(report.summary.counters.calls.count).toBeLessThanOrEqual(101);
  });

  it('ramps bots through --stages and starts bots at --arrival-rate', async () => {
    const ramp = await runScenario('fixed-samples.ts', ['--stages', '500ms:4,500ms:4,300ms:0']);
    expect(ramp.code).toBe(0);
    expect(ramp.report.summary.gauges.bots.max).toBe(4);
    expect(ramp.report.summary.counters.bots_started.count).toBe(4);
    expect(ramp.report.series.at(-1)!.bots).toBe(0);
    const open = await runScenario('fixed-samples.ts', ['--arrival-rate', '20', '-d', '1s']);
    expect(open.code).toBe(0);
    const started = open.report.summary.counters.bots_started.count;
    expect(started).toBeGreaterThanOrEqual(20);
    expect(started).toBeLessThanOrEqual(22);
  });

  it('refuses a bad command line with exit 2, naming the flag', async () => {
    for (const [args, message] of [
      [['run'], /run takes one scenario file, got none/],
      [['run', 'x.ts', '--stages', '10'], /--stages must be DURATION:TARGET/],
      [['run', 'x.ts', '--threshold', 'p99<5'], /--threshold must be NAME:EXPR/],
      [['run', 'x.ts', '--threshold', 'x:p99 < 5'], /is not AGG OP NUMBER/],
      [['run', 'x.ts', '--processes', '0'], /--processes must be an integer from 1/],
      [['run', 'x.ts', '-c', '5', '--stages', '1s:2'], /give one load shape, got -c\/--bots and --stages/],
    ] as const) {
      const result = await runCli([...args]);
      expect(result.code, String(args)).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    const missing = await runCli(['run', join(tmp, 'nothing-here.ts')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/scenario file .*nothing-here\.ts does not exist/);
    // TypeScript with no "type": "module" above it would load as CommonJS: said before loading.
    const cjs = join(tmp, 'plain.ts');
    writeFileSync(cjs, "import { defineScenario } from 'ringwire-bench';\nexport default defineScenario({ bot() {} });\n");
    const commonjs = await runCli(['run', cjs]);
    expect(commonjs.code).toBe(1);
    expect(commonjs.stderr).toMatch(/would load as CommonJS .* name it \.mts/);
  });
});
