/**
 * `npm run bench:screenshot -- REPORT.html OUT.png`: opens an HTML report in headless
 * Chromium and saves a full-page PNG, so anyone can see the page renders.
 *
 *   node bench/harness/dist/screenshot.js REPORT.html OUT.png
 *   node bench/harness/dist/screenshot.js --demo [DIR]
 *
 * `--demo` renders the built-in sample reports (a soak run against the faulty server, a
 * throughput comparison of every local target, a latency comparison) to DIR (default: a
 * new temporary directory) as demo-run.html, demo-comparison.html,
 * demo-latency-comparison.html and their PNGs, so the page can be checked without a run.
 *
 * Chromium is Debian's `chromium` package (`apt-get install chromium`), driven by
 * playwright-core through its executablePath; CHROMIUM_PATH overrides /usr/bin/chromium.
 * Each launch gets a fresh user-data directory, removed afterwards.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { renderHtml } from './html-report.js';
import type { HarnessReport, RunReport, RunSettings, TimelinePoint, WorkloadName } from './report.js';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** CSS pixels of the page's width; the height is the whole page. */
const VIEWPORT = { width: 1120, height: 900 };

/** Saves a full-page PNG of the HTML file `htmlPath` to `pngPath`, `width` CSS pixels wide. Throws when Chromium is missing. */
export async function screenshot(htmlPath: string, pngPath: string, width = VIEWPORT.width): Promise<void> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}: install it with \`apt-get install chromium\` (Debian), or set CHROMIUM_PATH to a Chromium or Chrome binary`,
    );
  }
  if (!existsSync(htmlPath)) throw new Error(`no such report: ${htmlPath}`);
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new Error(
      'the screenshot command needs playwright-core, an optional dependency of ringwire-bench that is not installed: `npm install playwright-core`',
    );
  }
  const userDataDir = await mkdtemp(join(tmpdir(), 'ringwire-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { ...VIEWPORT, width },
      deviceScaleFactor: 1,
      offline: true,
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(pathToFileURL(resolve(htmlPath)).href, { waitUntil: 'load' });
      await page.screenshot({ path: pngPath, fullPage: true });
    } finally {
      await context.close();
    }
  } finally {
    await rm(userDataDir, { recursive: true, force: true });
  }
}

// ── sample reports ──────────────────────────────────────────────────────────

/** A deterministic pseudo-random sequence in [0, 1), so the samples never change. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function settings(workload: WorkloadName, port: number, transport: 'tcp' | 'ws', rate: number): RunSettings {
  return {
    workload,
    host: '127.0.0.1',
    port,
    transport,
    headerSize: 2,
    connections: 64,
    payloadMin: 32,
    payloadMax: 256,
    durationSeconds: 20,
    warmupSeconds: 3,
    graceSeconds: 2,
    ratePerConnection: rate,
    connectRate: 500,
    clientShards: 2,
  };
}

function timeline(seconds: number, rate: number, jitter: number, p99: number | null, rnd: () => number): TimelinePoint[] {
  const points: TimelinePoint[] = [];
  for (let t = 1; t <= seconds; t++) {
    const sent = rate * (1 + (rnd() - 0.5) * jitter);
    points.push({
      t,
      sentPerSecond: Math.round(sent),
      receivedPerSecond: Math.round(sent * (0.995 + rnd() * 0.01)),
      p99Ms: p99 === null ? null : p99 * (0.8 + rnd() * 0.5 + (t === 12 ? 2.5 : 0)),
    });
  }
  return points;
}

/** A latency summary shaped like a real one: a flat body and a tail that rises with the nines. */
function latency(base: number, tail: number, count: number): NonNullable<RunReport['latency']> {
  const at = (percentile: number): number => {
    const nines = -Math.log10(1 - Math.min(percentile, 99.9999) / 100);
    return base * (0.55 + 0.45 * Math.min(1, nines)) + tail * Math.max(0, nines - 1) ** 2.2;
  };
  const curve: { percentile: number; ms: number }[] = [];
  for (let i = 0; i <= 100; i++) {
    const percentile = 100 * (1 - 0.5 ** (i / 5));
    if (1 - percentile / 100 < 1 / count) break;
    curve.push({ percentile, ms: at(percentile) });
  }
  const max = at(99.9999) * 1.3;
  curve.push({ percentile: 100, ms: max });
  return {
    count,
    minMs: at(0),
    p50Ms: at(50),
    p90Ms: at(90),
    p95Ms: at(95),
    p99Ms: at(99),
    p999Ms: at(99.9),
    p9999Ms: at(99.99),
    maxMs: max,
    meanMs: at(60),
    stdevMs: at(90) - at(50),
    curve,
  };
}

function run(
  target: string,
  kind: RunReport['targetKind'],
  workload: WorkloadName,
  rate: number,
  perConnectionRate: number,
  port: number,
  seed: number,
  withLatency: boolean,
): RunReport {
  const rnd = random(seed);
  const s = settings(workload, port, kind === 'ws' ? 'ws' : 'tcp', perConnectionRate);
  const received = Math.round(rate * s.durationSeconds);
  const lat = withLatency ? latency(0.18 + 12_000 / rate / 60, 0.25 + 40_000 / rate, received) : null;
  return {
    target,
    targetKind: kind,
    settings: s,
    startedAt: new Date(Date.UTC(2025, 5, 2, 14, 3, 20 + seed)).toISOString(),
    measuredSeconds: s.durationSeconds,
    throughput: {
      sentDatagrams: received + 17,
      receivedDatagrams: received,
      sentPerSecond: rate * 1.0004,
      receivedPerSecond: rate,
      sentMBPerSecond: (rate * 144) / 1e6,
      receivedMBPerSecond: (rate * 144) / 1e6,
    },
    latency: lat,
    integrity: workload === 'soak' ? { lost: 0, duplicated: 0, reordered: 0, corrupted: 0 } : null,
    connections: null,
    errors: { connectFailed: 0, resets: 0, sendRetries: Math.round(rate / 900) },
    timeline: timeline(s.durationSeconds, rate, 0.12, lat === null ? null : lat.p99Ms, rnd),
  };
}

/**
 * Sample reports of both kinds: a soak run against the faulty server, a throughput
 * comparison of every local target, and a latency comparison.
 */
export function sampleReports(): { run: HarnessReport; comparison: HarnessReport; latencyComparison: HarnessReport } {
  const soak = run('faulty', 'faulty', 'soak', 3840, 60, 40123, 7, true);
  soak.integrity = { lost: 76, duplicated: 0, reordered: 51, corrupted: 0 };
  soak.errors.resets = 0;
  const targets: [string, RunReport['targetKind'], number][] = [
    ['ringwire-2', 'ringwire-2', 1_412_000],
    ['ringwire-1', 'ringwire-1', 1_021_500],
    ['ringwire-0', 'ringwire-0', 655_300],
    ['plain-net', 'plain-net', 702_800],
    ['ws', 'ws', 318_400],
  ];
  const runs = targets.map(([name, kind, rate], i) => run(name, kind, 'throughput', rate, 0, 41000 + i, 11 + i, false));
  const ratios: Record<string, number> = {};
  for (const r of runs) ratios[r.target] = r.throughput.receivedPerSecond / runs[0].throughput.receivedPerSecond;
  const latencyRuns = targets.map(([name, kind, rate], i) => {
    const r = run(name, kind, 'latency', 3840 - i * 3, 60, 42000 + i, 21 + i, true);
    // Shape each target's tail by its measured capacity: the slower server queues sooner.
    r.latency = latency(0.12 + 20_000 / rate, 0.1 + 150_000 / rate, r.throughput.receivedDatagrams);
    for (const point of r.timeline) point.p99Ms = r.latency.p99Ms! * (0.85 + ((point.t * 7919) % 13) / 40);
    return r;
  });
  const latencyRatios: Record<string, number> = {};
  const p99Ratios: Record<string, number> = {};
  for (const r of latencyRuns) {
    latencyRatios[r.target] = r.throughput.receivedPerSecond / latencyRuns[0].throughput.receivedPerSecond;
    p99Ratios[r.target] = r.latency!.p99Ms! / latencyRuns[0].latency!.p99Ms!;
  }
  return {
    run: { kind: 'run', node: 'v20.20.2', run: soak },
    comparison: { kind: 'comparison', node: 'v20.20.2', comparison: { workload: 'throughput', baseline: 'ringwire-2', runs, ratios } },
    latencyComparison: {
      kind: 'comparison',
      node: 'v20.20.2',
      comparison: { workload: 'latency', baseline: 'ringwire-2', runs: latencyRuns, ratios: latencyRatios, p99Ratios },
    },
  };
}

// ── command line ────────────────────────────────────────────────────────────

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--demo') {
    const dir = argv[1] !== undefined ? resolve(argv[1]) : await mkdtemp(join(tmpdir(), 'ringwire-report-demo-'));
    await mkdir(dir, { recursive: true });
    const samples = sampleReports();
    for (const [name, report] of [
      ['demo-run', samples.run],
      ['demo-comparison', samples.comparison],
      ['demo-latency-comparison', samples.latencyComparison],
    ] as const) {
      const html = join(dir, `${name}.html`);
      const png = join(dir, `${name}.png`);
      await writeFile(html, renderHtml(report));
      await screenshot(html, png);
      console.log(`${html}\n${png}`);
    }
    return;
  }
  if (argv.length !== 2 || argv[0].startsWith('-') || argv[1].startsWith('-')) {
    throw new Error('usage: screenshot REPORT.html OUT.png | screenshot --demo [DIR]');
  }
  await screenshot(argv[0], argv[1]);
  console.log(argv[1]);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`screenshot: ${(error as Error)?.message ?? String(error)}`);
    process.exit(1);
  });
}
