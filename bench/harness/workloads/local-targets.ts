/**
 * Runs against servers the harness starts itself (targets.ts): one local target, or
 * `--compare`: the same workload against each target in turn, on the same machine, each
 * server stopped before the next one starts.
 */
import type { ComparisonReport, RunReport, RunSettings } from '../report.js';
import { type LocalTargetKind, type RunningTarget, startTarget } from '../targets.js';
import type { LoadRunOptions } from './load-run.js';
import { InterruptedError, runWorkload } from './run-workload.js';

/** What `--compare` measures when no --targets are given, in this order. */
export const COMPARE_TARGETS: readonly LocalTargetKind[] = ['ringwire-0', 'ringwire-1', 'ringwire-2', 'plain-net', 'ws'];
/** Every kind `--targets` accepts. */
export const LOCAL_TARGETS: readonly LocalTargetKind[] = [...COMPARE_TARGETS, 'faulty'];
/** The run every comparison ratio divides by: ringwire with shards. */
export const BASELINE_TARGET = 'ringwire-2';

export interface LocalRunOptions extends LoadRunOptions {
  /** Called when a target has started, before its run. */
  onTargetStarted?: (target: RunningTarget) => void;
  /** Called when a target's run ended (its report, or the error). */
  onTargetDone?: (kind: LocalTargetKind, outcome: RunReport | Error) => void;
}

/** `settings` aimed at `target` (its address and transport). */
export function settingsFor(settings: RunSettings, target: RunningTarget): RunSettings {
  return { ...settings, host: target.host, port: target.port, transport: target.transport };
}

/**
 * Starts `kind`, runs `settings.workload` against it, stops it. Rejects with the run's
 * error, or with the server's when it did not stop cleanly (a crash during the run).
 */
export async function runOnLocalTarget(kind: LocalTargetKind, settings: RunSettings, options: LocalRunOptions = {}): Promise<RunReport> {
  if (options.signal?.aborted) throw new InterruptedError('interrupted');
  const target = await startTarget(kind, { headerSize: settings.headerSize });
  let report: RunReport;
  try {
    options.onTargetStarted?.(target);
    report = await runWorkload(settingsFor(settings, target), { name: target.name, kind: target.kind, pid: target.pid }, options);
  } catch (error) {
    await target.stop().catch(() => {});
    throw error;
  }
  await target.stop();
  return report;
}

/**
 * The same workload against each of `kinds`, one after the other. A target that fails is
 * recorded in `failures` and the comparison goes on; ratios divide by BASELINE_TARGET's
 * run (or by the first run that succeeded, when the baseline failed or was not chosen).
 * Rejects with InterruptedError when `options.signal` aborts.
 */
export async function runComparison(
  kinds: readonly LocalTargetKind[],
  settings: RunSettings,
  options: LocalRunOptions = {},
): Promise<ComparisonReport> {
  const runs: RunReport[] = [];
  const failures: Record<string, string> = {};
  for (const kind of kinds) {
    let outcome: RunReport | Error;
    try {
      outcome = await runOnLocalTarget(kind, settings, options);
      runs.push(outcome);
    } catch (error) {
      if (error instanceof InterruptedError || options.signal?.aborted) throw new InterruptedError('interrupted');
      outcome = error as Error;
      failures[kind] = outcome.message;
    }
    options.onTargetDone?.(kind, outcome);
  }
  const baselineRun = runs.find((run) => run.target === BASELINE_TARGET) ?? runs[0];
  const ratios: Record<string, number> = {};
  const p99Ratios: Record<string, number> = {};
  const paced = settings.workload === 'latency' || settings.workload === 'soak';
  for (const run of runs) {
    ratios[run.target] = ratio(run.throughput.receivedPerSecond, baselineRun.throughput.receivedPerSecond);
    if (paced && run.latency !== null && baselineRun.latency !== null) {
      p99Ratios[run.target] = ratio(run.latency.p99Ms, baselineRun.latency.p99Ms);
    }
  }
  const report: ComparisonReport = {
    workload: settings.workload,
    baseline: baselineRun?.target ?? BASELINE_TARGET,
    runs,
    ratios,
  };
  if (paced) report.p99Ratios = p99Ratios;
  if (Object.keys(failures).length > 0) report.failures = failures;
  return report;
}

/** a / b, or 0 when b is 0 (nothing to compare with). */
function ratio(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}
