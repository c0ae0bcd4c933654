/**
 * Shared by the harness's tests: short settings, a local target that is always stopped,
 * the compiled command line, and a check that every number in a report is finite.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { RunReport, RunSettings, WorkloadName } from './report.js';
import { type LocalTargetKind, type RunningTarget, startTarget } from './targets.js';
import { settingsFor } from './workloads/local-targets.js';
import { runWorkload } from './workloads/run-workload.js';
import { type WorkloadFlags, resolveSettings } from './workloads/workload-settings.js';

/** Settings for a brief run: 1 s measured, no warm-up, a 1 s grace period, then `flags`. */
export function briefSettings(workload: WorkloadName, flags: WorkloadFlags = {}): RunSettings {
  return resolveSettings(workload, {
    connections: 4,
    durationSeconds: 1,
    warmupSeconds: 0,
    graceSeconds: 1,
    clientShards: 2,
    ...flags,
  });
}

/** Starts `kind`, hands it to `body`, and stops it whatever happens. */
export async function withTarget<T>(kind: LocalTargetKind, headerSize: 0 | 2 | 4, body: (target: RunningTarget) => Promise<T>): Promise<T> {
  const target = await startTarget(kind, { headerSize });
  try {
    return await body(target);
  } finally {
    await target.stop();
  }
}

/** Runs `settings.workload` against a freshly started `kind` and resolves the report. */
export function runAgainst(kind: LocalTargetKind, settings: RunSettings): Promise<RunReport> {
  return withTarget(kind, settings.headerSize, (target) =>
    runWorkload(settingsFor(settings, target), { name: target.name, kind: target.kind, pid: target.pid }),
  );
}

/** Fails with the path of the first number in `value` that is not finite. */
export function expectAllFinite(value: unknown, path = 'report'): void {
  if (typeof value === 'number') {
    expect(Number.isFinite(value), `${path} = ${value}`).toBe(true);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => expectAllFinite(item, `${path}[${i}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) expectAllFinite(item, `${path}.${key}`);
  }
}

/** The structure every run report has, whatever the workload. */
export function expectRunShape(report: RunReport, settings: RunSettings): void {
  expectAllFinite(report);
  // The address (and, for the ws server, the transport) is the target's.
  expect({ ...report.settings, host: settings.host, port: settings.port, transport: settings.transport }).toEqual(settings);
  expect(Number.isNaN(Date.parse(report.startedAt))).toBe(false);
  expect(report.measuredSeconds).toBeGreaterThan(settings.durationSeconds * 0.9);
  const t = report.throughput;
  expect(t.sentDatagrams).toBeGreaterThan(0);
  expect(t.receivedDatagrams).toBeGreaterThan(0);
  expect(t.sentPerSecond).toBeGreaterThan(0);
  expect(t.receivedPerSecond).toBeGreaterThan(0);
  expect(t.sentMBPerSecond).toBeGreaterThan(0);
  expect(t.receivedMBPerSecond).toBeGreaterThan(0);
  expect(report.errors).toEqual({ connectFailed: 0, resets: 0, sendRetries: expect.any(Number) });
  expect(report.timeline.length).toBeGreaterThan(0);
  for (const point of report.timeline) {
    expect(point.t).toBeGreaterThan(0);
    expect(point.t).toBeLessThanOrEqual(report.measuredSeconds + 0.001);
  }
}

/** A latency summary with round trips, percentiles in order. */
export function expectLatency(report: RunReport): void {
  const l = report.latency;
  expect(l).not.toBeNull();
  expect(l!.count).toBeGreaterThan(0);
  const order = [l!.minMs, l!.p50Ms, l!.p90Ms, l!.p95Ms, l!.p99Ms, l!.p999Ms, l!.p9999Ms, l!.maxMs];
  for (const value of order) expect(typeof value).toBe('number');
  expect(l!.p50Ms!).toBeGreaterThan(0);
  for (let i = 1; i < order.length; i++) expect(order[i]!).toBeGreaterThanOrEqual(order[i - 1]!);
  expect(l!.meanMs!).toBeGreaterThan(0);
  expect(l!.stdevMs!).toBeGreaterThanOrEqual(0);
  expect(l!.curve.length).toBeGreaterThan(10);
  expect(l!.curve.at(-1)!.percentile).toBe(100);
}

/** Zero lost, duplicated, reordered, corrupted. */
export function expectIntact(report: RunReport): void {
  expect(report.integrity).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
}

const CLI = fileURLToPath(new URL('./dist/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI with `args`; kills it after `timeoutMs`. */
export function runCli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The fields of a JSON value, as sorted paths (`run.latency.curve[].ms`): objects by key,
 * arrays by the union of their items' fields, leaves by nothing but their path. Two
 * reports with the same fields give the same list, whatever their figures.
 */
export function fieldPaths(value: unknown, path = ''): string[] {
  const paths = new Set<string>();
  const walk = (item: unknown, at: string): void => {
    if (Array.isArray(item)) {
      paths.add(`${at}[]`);
      for (const element of item) walk(element, `${at}[]`);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        const next = at === '' ? key : `${at}.${key}`;
        paths.add(next);
        walk(child, next);
      }
    }
  };
  walk(value, path);
  return [...paths].sort();
}
