/**
 * `run --metrics-port` and `run --html`, end to end: the compiled CLI runs a scenario
 * (every kind of metric, a custom trend) against a ringwire echo server, /metrics is
 * scraped while it runs and read line by line as Prometheus would, and the page is
 * checked once the run is over. Real processes, real loopback sockets: `npm run build` first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScenarioReport } from './scenario/run-scenario.js';
import { type RunningTarget, startTarget } from './targets.js';

const CLI = fileURLToPath(new URL('./dist/cli.js', import.meta.url));
const SCENARIO = fileURLToPath(new URL('./scenario/fixtures/echo-metrics.ts', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ringwire-bench-output-'));

let target: RunningTarget;
beforeAll(async () => {
  target = await startTarget('ringwire-2', { headerSize: 2 });
});
afterAll(async () => {
  await target?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** The CLI as a child: its output so far, and its exit. */
interface Cli {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function startCli(args: string[]): Cli {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exit = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  return { child, stderr: () => stderr, exit };
}

/** Calls `probe` until it returns something other than undefined; fails after `ms`, with `what`. */
async function poll<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Reads Prometheus's text format (0.0.4) strictly: every line is a HELP, a TYPE, another
 * comment, or `name{labels} value`; a family has one TYPE, before its samples. Throws on
 * the first line that breaks a rule.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
  const SAMPLE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)?\\})? (\\S+)$`);
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|summary|histogram|untyped)$`).exec(line);
    if (type) {
      expect(types.has(type[1]), `a second TYPE for ${type[1]}`).toBe(false);
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) {
      expect(line, 'a HELP line').toMatch(new RegExp(`^# HELP ${NAME} .*$|^# (?!HELP|TYPE)`));
      continue;
    }
    const match = SAMPLE.exec(line);
    expect(match, `a sample line: ${line}`).not.toBeNull();
    const [, name, labelText, valueText] = match!;
    expect(valueText, `the value of ${line}`).toMatch(/^(NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/);
    const family = types.has(name) ? name : name.replace(/_(sum|count)$/, '');
    expect(types.has(family), `${name} before its TYPE`).toBe(true);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (labelText ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name, labels, value: valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText) });
  }
  return { types, samples };
}

async function scrape(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url);
    return response.status === 200 ? await response.text() : undefined;
  } catch {
    return undefined; // not listening yet
  }
}

describe('run --metrics-port and --html', () => {
  it('serves the live figures in Prometheus text format while it runs, closes at the end, writes the page', async () => {
    const html = join(tmp, 'run.html');
    const json = join(tmp, 'run.json');
    const cli = startCli(['run', SCENARIO, '--port', String(target.port), '-d', '3s', '--metrics-port', '0', '--html', html, '--json', json]);
    let sent = 0;
    try {
      const url = await poll('metrics URL on stderr', 10_000, () => /metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(cli.stderr())?.[1]);

      // Scraped until the bots have sent something: the figures are live, not the end's.
      const text = await poll('datagrams_sent above 0', 10_000, async () => {
        const body = await scrape(url);
        const match = body === undefined ? null : /^ringwire_bench_datagrams_sent_total (\d+)$/m.exec(body);
        sent = match === null ? 0 : Number(match[1]);
        return sent > 0 ? body : undefined;
      });
      expect(existsSync(html), 'the page is written after the run, not before').toBe(false);

      const { types, samples } = parseExposition(text!);
      const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
        samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
      expect(types.get('ringwire_bench_datagrams_sent_total')).toBe('counter');
      expect(types.get('ringwire_bench_echoes_total')).toBe('counter');
      expect(types.get('ringwire_bench_bots')).toBe('gauge');
      expect(types.get('ringwire_bench_last_echo_ms')).toBe('gauge');
      expect(types.get('ringwire_bench_echo_under_100ms_passes_total')).toBe('counter');
      expect(types.get('ringwire_bench_threshold_ok')).toBe('gauge');
      expect(value('ringwire_bench_bots')).toBe(4);
      // The custom trend, a summary: its quantiles in order, its count and sum.
      expect(types.get('ringwire_bench_echo_ms')).toBe('summary');
      const [p50, p90, p99] = ['0.5', '0.9', '0.99'].map((q) => value('ringwire_bench_echo_ms', { quantile: q }));
      expect(p99).toBeGreaterThanOrEqual(p90!);
      expect(p90).toBeGreaterThanOrEqual(p50!);
      expect(p50).toBeGreaterThan(0);
      expect(value('ringwire_bench_echo_ms_count')).toBeGreaterThan(0);
      expect(value('ringwire_bench_echo_ms_sum')).toBeGreaterThan(0);
      expect(value('ringwire_bench_checks_samples_total', { check: 'echo is whole' })).toBeGreaterThan(0);
      expect(value('ringwire_bench_threshold_ok', { metric: 'echo_ms', threshold: 'p(99) < 2000' })).toBe(1);

      expect(await cli.exit).toBe(0);
      // The run is over: so is the server.
      await expect(fetch(url)).rejects.toThrow();
    } finally {
      cli.child.kill('SIGKILL');
    }

    const report = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport;
    expect(report.summary.counters.datagrams_sent.count).toBeGreaterThanOrEqual(sent);
    const page = readFileSync(html, 'utf8');
    expect(page).not.toMatch(/<script|<link|@import|url\(|(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(Object.keys(report.summary.trends)).toEqual(expect.arrayContaining(['echo_ms', 'connect_time', 'schedule_lag']));
    for (const name of Object.keys(report.summary.trends)) {
      expect(page).toContain(`aria-label="${name} by percentile"`);
      expect(page).toContain(`aria-label="${name}: p50 and p99 of each second"`);
    }
    for (const name of ['echoes', 'echo_under_100ms', 'last_echo_ms', 'check: echo is whole', 'p(99) &lt; 2000']) expect(page).toContain(name);
  });

  it('a --metrics-port already in use stops the run before it starts, naming the port', async () => {
    const first = startCli(['run', SCENARIO, '--port', String(target.port), '-d', '3s', '--metrics-port', '0']);
    try {
      const url = await poll('metrics URL on stderr', 10_000, () => /metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(first.stderr())?.[1]);
      const port = new URL(url).port;
      const second = startCli(['run', SCENARIO, '--port', String(target.port), '-d', '3s', '--metrics-port', port]);
      expect(await second.exit).toBe(1);
      expect(second.stderr()).toContain(`--metrics-port ${port}: cannot listen on 127.0.0.1:${port}`);
      expect(second.stderr()).not.toMatch(/^1s /m);
    } finally {
      first.child.kill('SIGTERM');
      await first.exit;
    }
  });
});
