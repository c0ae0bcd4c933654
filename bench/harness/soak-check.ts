/**
 * The soak check (issue #5): the harness's soak workload against a ringwire server for a
 * given time, with the server's memory watched. It passes when
 * - no datagram was lost, duplicated, reordered or corrupted, and no connection failed or
 *   was reset; and
 * - the server's RSS, sampled every second, never grew more than RSS_GROWTH_BOUND_BYTES
 *   above its warm-up RSS. The warm-up is the first WARMUP_FRACTION of the run or
 *   WARMUP_MAX_SECONDS, whichever is less (JIT, pools and rings settle there); the warm-up
 *   RSS is the first sample taken at or after its end, and the growth is the largest
 *   sample from then on minus it.
 *
 * `bench/soak.ts` is its command line; `bench/soak.test.ts` runs it in CI.
 */
import type { RunReport, RunSettings } from './report.js';
import { formatCount, formatMs, table } from './output/console.js';
import { type RssSample, RssSampler } from './stats/rss-sampler.js';
import { type LocalTargetKind, startTarget } from './targets.js';
import type { Progress } from './workloads/run-workload.js';
import { settingsFor } from './workloads/local-targets.js';
import { runWorkload } from './workloads/run-workload.js';
import { resolveSettings } from './workloads/workload-settings.js';

/** The soak's length when none is given (s): 10 minutes, by hand. */
export const DEFAULT_SOAK_SECONDS = 600;
/** The most the server's RSS may grow after warm-up (bytes). */
export const RSS_GROWTH_BOUND_BYTES = 64 * 1024 * 1024;
/** The warm-up is this share of the run … */
export const WARMUP_FRACTION = 0.2;
/** … or this many seconds, whichever is less. */
export const WARMUP_MAX_SECONDS = 10;
/** The target the soak runs against. */
export const SOAK_TARGET: LocalTargetKind = 'ringwire-2';
/** How often the server's RSS is read (ms). */
const SAMPLE_INTERVAL_MS = 1000;

export interface SoakCheckOptions {
  /** Seconds of load (the soak workload's --duration). */
  seconds: number;
  /** The server to soak (default SOAK_TARGET; the self-tests aim it at 'faulty'). */
  target?: LocalTargetKind;
  /** Aborts the run: it rejects with InterruptedError once everything is closed. */
  signal?: AbortSignal;
  /** Called once a second with the run's progress and the server's latest RSS. */
  onProgress?: (progress: Progress, serverRssBytes: number | null) => void;
}

/** What the memory check found. */
export interface MemoryCheck {
  boundBytes: number;
  warmupSeconds: number;
  /** RSS when the load started (before any connection). */
  startRssBytes: number | null;
  /** The first sample at or after the warm-up, and when it was taken (s); null without one. */
  warmupRssBytes: number | null;
  warmupSampleSeconds: number | null;
  /** The largest sample from the warm-up sample on, and when it was taken (s). */
  maxRssBytes: number | null;
  maxSampleSeconds: number | null;
  /** maxRssBytes − warmupRssBytes (negative when it shrank), or null. */
  growthBytes: number | null;
  /** True when the growth is within the bound (false when it could not be measured). */
  withinBound: boolean;
  samples: RssSample[];
}

/** What `--json` writes. */
export interface SoakCheckReport {
  kind: 'soak-check';
  node: string;
  passed: boolean;
  /** Why it failed, one line each (empty when it passed). */
  failures: string[];
  target: string;
  seconds: number;
  /** Datagrams echoed intact exactly once (every one sent, when it passed). */
  verified: number;
  memory: MemoryCheck;
  run: RunReport;
}

/** The warm-up of a run of `seconds`. */
export function warmupSecondsFor(seconds: number): number {
  return Math.min(seconds * WARMUP_FRACTION, WARMUP_MAX_SECONDS);
}

/** The memory check over `samples` (t in seconds since the load started). */
export function checkMemory(samples: readonly RssSample[], warmupSeconds: number, boundBytes = RSS_GROWTH_BOUND_BYTES): MemoryCheck {
  const after = samples.filter((sample) => sample.t >= warmupSeconds);
  const base = after[0] ?? null;
  let max: RssSample | null = null;
  for (const sample of after) if (max === null || sample.rssBytes > max.rssBytes) max = sample;
  const growth = base === null || max === null ? null : max.rssBytes - base.rssBytes;
  return {
    boundBytes,
    warmupSeconds,
    startRssBytes: samples[0]?.rssBytes ?? null,
    warmupRssBytes: base?.rssBytes ?? null,
    warmupSampleSeconds: base?.t ?? null,
    maxRssBytes: max?.rssBytes ?? null,
    maxSampleSeconds: max?.t ?? null,
    growthBytes: growth,
    withinBound: growth !== null && growth <= boundBytes,
    samples: samples.slice(),
  };
}

/** The soak settings for `seconds`: the soak workload's defaults, no harness warm-up (every datagram is checked). */
export function soakSettings(seconds: number): RunSettings {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`soak: seconds must be a positive number, got ${String(seconds)}`);
  return resolveSettings('soak', { durationSeconds: seconds, warmupSeconds: 0 });
}

/**
 * Starts the target, soaks it for `options.seconds` while sampling its RSS, stops it, and
 * resolves the verdict. Rejects when the run itself could not be made (the server did not
 * start, no connection opened) or was interrupted (InterruptedError); a server that
 * crashed or did not stop cleanly is a failure in the report.
 */
export async function runSoakCheck(options: SoakCheckOptions): Promise<SoakCheckReport> {
  const settings = soakSettings(options.seconds);
  const kind = options.target ?? SOAK_TARGET;
  const target = await startTarget(kind, { headerSize: settings.headerSize });
  if (target.pid === null) {
    await target.stop().catch(() => {});
    throw new Error(`${kind} server: its pid is unknown, so its memory cannot be watched`);
  }
  const sampler = new RssSampler(target.pid, SAMPLE_INTERVAL_MS);
  const onProgress = options.onProgress;
  let run: RunReport;
  try {
    sampler.start();
    run = await runWorkload(settingsFor(settings, target), { name: target.name, kind: target.kind, pid: target.pid }, {
      signal: options.signal,
      onProgress: onProgress === undefined ? undefined : (progress) => onProgress(progress, sampler.latest()),
    });
  } catch (error) {
    sampler.stop();
    await target.stop().catch(() => {});
    throw error;
  }
  sampler.stop();
  const failures: string[] = [];
  try {
    await target.stop();
  } catch (error) {
    failures.push(`the server did not stop cleanly: ${(error as Error).message.split('\n')[0]}`);
  }

  const i = run.integrity!;
  const faults = i.lost + i.duplicated + i.reordered + i.corrupted;
  if (faults > 0) {
    failures.push(`integrity: lost ${i.lost}, duplicated ${i.duplicated}, reordered ${i.reordered}, corrupted ${i.corrupted} (all must be 0)`);
  }
  const e = run.errors;
  if (e.connectFailed + e.resets > 0) failures.push(`connections: ${e.connectFailed} failed to open, ${e.resets} reset by the server (both must be 0)`);
  const memory = checkMemory(sampler.samples(), warmupSecondsFor(options.seconds));
  if (memory.growthBytes === null) {
    failures.push(`memory: the server's RSS could not be read after the warm-up (${sampler.missed} readings failed; /proc/<pid>/status is Linux-only)`);
  } else if (!memory.withinBound) {
    failures.push(
      `memory: the server's RSS grew ${mib(memory.growthBytes)} after warm-up (${mib(memory.warmupRssBytes!)} at ${memory.warmupSampleSeconds!.toFixed(1)} s → max ${mib(memory.maxRssBytes!)} at ${memory.maxSampleSeconds!.toFixed(1)} s), more than the ${mib(memory.boundBytes)} bound`,
    );
  }
  const totals = run.totals!;
  return {
    kind: 'soak-check',
    node: process.version,
    passed: failures.length === 0,
    failures,
    target: kind,
    seconds: options.seconds,
    verified: totals.receivedDatagrams - i.duplicated - i.corrupted,
    memory,
    run,
  };
}

/** Bytes as MiB with one decimal ("85.3 MiB"; a sign when asked). */
function mib(bytes: number, signed = false): string {
  const text = `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  return signed && bytes >= 0 ? `+${text}` : text;
}

/** The summary table, then PASS or FAIL with the reasons. */
export function formatSoakCheck(report: SoakCheckReport): string {
  const run = report.run;
  const s = run.settings;
  const t = run.totals!;
  const i = run.integrity!;
  const e = run.errors;
  const l = run.latency;
  const m = report.memory;
  const payload = s.payloadMin === s.payloadMax ? `${s.payloadMin} B` : `${s.payloadMin}–${s.payloadMax} B`;
  const lines = [
    `soak check · ${report.target} at ${s.host}:${s.port} · ${formatCount(s.connections)} connections × ${formatCount(s.ratePerConnection)}/s · payload ${payload} · ${report.seconds} s`,
    '',
  ];
  const at = (bytes: number | null, seconds: number | null): string =>
    bytes === null ? '–' : `${mib(bytes)}${seconds === null ? '' : ` (at ${seconds.toFixed(1)} s)`}`;
  const rows: string[][] = [
    ['datagrams', `sent ${formatCount(t.sentDatagrams)} · received ${formatCount(t.receivedDatagrams)} · verified ${formatCount(report.verified)}`],
    ['integrity', `lost ${formatCount(i.lost)} · duplicated ${formatCount(i.duplicated)} · reordered ${formatCount(i.reordered)} · corrupted ${formatCount(i.corrupted)}`],
    [
      'round trip (ms)',
      l === null || l.count === 0
        ? '–'
        : `p50 ${formatMs(l.p50Ms)} · p99 ${formatMs(l.p99Ms)} · p99.9 ${formatMs(l.p999Ms)} · max ${formatMs(l.maxMs)} · ${formatCount(l.count)} round trips`,
    ],
    ['errors', `connect failed ${formatCount(e.connectFailed)} · resets ${formatCount(e.resets)} · send retries ${formatCount(e.sendRetries)}`],
    ['server RSS', `start ${at(m.startRssBytes, null)} · warm-up ${at(m.warmupRssBytes, m.warmupSampleSeconds)} · max ${at(m.maxRssBytes, m.maxSampleSeconds)}`],
    [
      'RSS growth',
      `${m.growthBytes === null ? '–' : mib(m.growthBytes, true)} after the ${Number(m.warmupSeconds.toFixed(1))} s warm-up · bound ${mib(m.boundBytes)} · ${m.samples.length} samples`,
    ],
  ];
  lines.push(table(rows, false), '');
  if (report.passed) {
    lines.push(
      `PASS: ${formatCount(report.verified)} datagrams verified, none lost, duplicated, reordered or corrupted; server RSS grew ${mib(m.growthBytes!, true)} after warm-up (bound ${mib(m.boundBytes)})`,
    );
  } else {
    lines.push('FAIL:', ...report.failures.map((failure) => `  - ${failure}`));
  }
  return lines.join('\n');
}
