/**
 * Runs against servers the harness starts itself (targets.ts): one local target, or
 * `--compare`: the same workload against each target in turn, on the same machine, each
 * server stopped before the next one starts.
 */
import type { ComparisonReport, RunReport, RunSettings, Transport } from '../report.js';
import { type LocalTargetKind, type RunningTarget, startTarget, targetTransport } from '../targets.js';
import type { WorkloadRunOptions } from './run-workload.js';
import { InterruptedError, runWorkload } from './run-workload.js';

/** What `--compare` measures when no --targets are given, in this order. */
export const COMPARE_TARGETS: readonly LocalTargetKind[] = ['ringwire-0', 'ringwire-1', 'ringwire-2', 'plain-net', 'ws'];
/** What `--compare --udp` measures when no --targets are given, in this order. */
export const UDP_COMPARE_TARGETS: readonly LocalTargetKind[] = ['ringwire-udp-0', 'ringwire-udp-2', 'plain-udp'];
/** What `--compare --ws` measures when no --targets are given: ringwire's WebSocket rendezvous with 2 shards, then the ws library's server. */
export const WS_COMPARE_TARGETS: readonly LocalTargetKind[] = ['ringwire-ws-2', 'ws'];
/** Every kind `--targets` accepts. */
export const LOCAL_TARGETS: readonly LocalTargetKind[] = [...COMPARE_TARGETS, 'ringwire-ws-0', 'ringwire-ws-2', 'faulty', ...UDP_COMPARE_TARGETS];
/** The run every comparison ratio divides by: ringwire with shards. */
export const BASELINE_TARGET = 'ringwire-2';
/** The baseline of a UDP comparison. */
export const UDP_BASELINE_TARGET = 'ringwire-udp-2';
/** The baseline of a WebSocket comparison. */
export const WS_BASELINE_TARGET = 'ringwire-ws-2';

/** The baseline of a comparison made over `transport`. */
export function baselineFor(transport: Transport): string {
  return transport === 'udp' ? UDP_BASELINE_TARGET : transport === 'ws' ? WS_BASELINE_TARGET : BASELINE_TARGET;
}

/**
 * Throws a RangeError when `kind` cannot carry a run made with `settings`: a UDP server
 * needs UDP settings (`transport: 'udp'`, which only the latency workload accepts), and
 * UDP settings need a UDP server; WebSocket settings (`--ws`) need a WebSocket server.
 * (A WebSocket server takes TCP settings: its transport wins, as in the default --compare.)
 * TLS settings need a server given by address: the local targets have no certificate.
 */
export function checkTargetFits(kind: LocalTargetKind, settings: RunSettings): void {
  const transport = targetTransport(kind);
  const udpTarget = transport === 'udp';
  const udpSettings = settings.transport === 'udp';
  if (udpTarget !== udpSettings) {
    throw new RangeError(
      udpTarget
        ? `${kind} speaks UDP: the run's settings must have transport 'udp' (--udp, latency only), got ${JSON.stringify(settings.transport)} for ${settings.workload}`
        : `${kind} does not speak UDP: --udp runs need a UDP target (${UDP_COMPARE_TARGETS.join(', ')})`,
    );
  }
  if (settings.transport === 'ws' && transport !== 'ws') {
    throw new RangeError(`${kind} does not speak WebSocket: --ws runs need a WebSocket target (${WS_COMPARE_TARGETS.join(', ')}, ringwire-ws-0)`);
  }
  if (settings.tls !== undefined) {
    throw new RangeError(`${kind} has no certificate: --tls runs against a server given by --host/--port (the relay with --tls-key/--tls-cert, say)`);
  }
}

export interface LocalRunOptions extends WorkloadRunOptions {
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
  checkTargetFits(kind, settings);
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
 * recorded in `failures` and the comparison goes on; ratios divide by the baseline's run
 * (BASELINE_TARGET, or UDP_BASELINE_TARGET over UDP; the first run that succeeded when
 * the baseline failed or was not chosen). Throws a RangeError, before starting anything,
 * when a target does not fit the settings' transport (checkTargetFits).
 * Rejects with InterruptedError when `options.signal` aborts.
 */
export async function runComparison(
  kinds: readonly LocalTargetKind[],
  settings: RunSettings,
  options: LocalRunOptions = {},
): Promise<ComparisonReport> {
  for (const kind of kinds) checkTargetFits(kind, settings);
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
  const baseline = baselineFor(settings.transport);
  const baselineRun = runs.find((run) => run.target === baseline) ?? runs[0];
  const ratios: Record<string, number> = {};
  const p99Ratios: Record<string, number> = {};
  const paced = settings.workload === 'latency' || settings.workload === 'soak';
  for (const run of runs) {
    ratios[run.target] = ratio(run.throughput.receivedPerSecond, baselineRun.throughput.receivedPerSecond);
    if (paced && run.latency?.p99Ms != null && baselineRun.latency?.p99Ms != null) {
      p99Ratios[run.target] = ratio(run.latency.p99Ms, baselineRun.latency.p99Ms);
    }
  }
  const cpuRatios: Record<string, number> = {};
  const baselineCpu = baselineRun?.serverCpu?.perDatagramUs ?? null;
  for (const run of runs) {
    const cpu = run.serverCpu?.perDatagramUs ?? null;
    if (cpu !== null && baselineCpu !== null && baselineCpu > 0) cpuRatios[run.target] = ratio(cpu, baselineCpu);
  }
  const report: ComparisonReport = {
    workload: settings.workload,
    baseline: baselineRun?.target ?? baseline,
    runs,
    ratios,
  };
  if (paced) report.p99Ratios = p99Ratios;
  if (Object.keys(cpuRatios).length > 0) report.cpuRatios = cpuRatios;
  if (Object.keys(failures).length > 0) report.failures = failures;
  return report;
}

/** a / b, or 0 when b is 0 (nothing to compare with). */
function ratio(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}
