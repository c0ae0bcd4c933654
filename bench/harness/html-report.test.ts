/**
 * The HTML report: one self-contained page with its charts, every figure of the report,
 * every embedded string escaped, and sensible output for parts a workload does not measure.
 */
import { describe, expect, it } from 'vitest';
import { renderHtml } from './html-report.js';
import type { HarnessReport, RunReport, RunSettings, WorkloadName } from './report.js';

function settings(workload: WorkloadName, port: number): RunSettings {
  return {
    workload,
    host: '127.0.0.1',
    port,
    transport: 'tcp',
    headerSize: 2,
    connections: 48,
    payloadMin: 20,
    payloadMax: 300,
    durationSeconds: 5,
    warmupSeconds: 1,
    ratePerConnection: 60,
    connectRate: 250,
    clientShards: 2,
  };
}

function latencyRun(): RunReport {
  return {
    target: 'ringwire-2',
    targetKind: 'ringwire-2',
    settings: settings('soak', 40001),
    startedAt: '2025-06-02T14:03:27.000Z',
    measuredSeconds: 5,
    throughput: {
      sentDatagrams: 14_412,
      receivedDatagrams: 14_398,
      sentPerSecond: 2882.4,
      receivedPerSecond: 2879.6,
      sentMBPerSecond: 0.4567,
      receivedMBPerSecond: 0.4512,
    },
    latency: {
      count: 14_398,
      minMs: 0.12,
      p50Ms: 0.412,
      p90Ms: 0.733,
      p95Ms: 1.234,
      p99Ms: 2.71,
      p999Ms: 14.44,
      p9999Ms: 80.1,
      maxMs: 187.5,
      meanMs: 0.5123,
      stdevMs: 0.9876,
      curve: [
        { percentile: 0, ms: 0.12 },
        { percentile: 50, ms: 0.412 },
        { percentile: 90, ms: 0.733 },
        { percentile: 99, ms: 2.71 },
        { percentile: 99.9, ms: 14.44 },
        { percentile: 99.99, ms: 80.1 },
        { percentile: 100, ms: 187.5 },
      ],
    },
    integrity: { lost: 0, duplicated: 0, reordered: 3, corrupted: 0 },
    connections: null,
    errors: { connectFailed: 0, resets: 2, sendRetries: 17 },
    timeline: [1, 2, 3, 4, 5].map((t) => ({ t, sentPerSecond: 2800 + t * 10, receivedPerSecond: 2790 + t * 10, p99Ms: t === 3 ? null : 2 + t / 10 })),
  };
}

function throughputRun(target: string, kind: RunReport['targetKind'], rate: number, port: number): RunReport {
  return {
    target,
    targetKind: kind,
    settings: { ...settings('throughput', port), ratePerConnection: 0 },
    startedAt: '2025-06-02T15:00:00.000Z',
    measuredSeconds: 5,
    throughput: {
      sentDatagrams: rate * 5 + 3,
      receivedDatagrams: rate * 5,
      sentPerSecond: rate + 0.6,
      receivedPerSecond: rate,
      sentMBPerSecond: rate / 10_000,
      receivedMBPerSecond: rate / 10_000,
    },
    latency: null,
    integrity: null,
    connections: null,
    errors: { connectFailed: 0, resets: 0, sendRetries: 0 },
    timeline: [1, 2, 3].map((t) => ({ t, sentPerSecond: rate, receivedPerSecond: rate - t, p99Ms: null })),
  };
}

const EVIL = '<script>alert("x")</script>&co';

function comparison(): HarnessReport {
  const runs = [
    throughputRun('ringwire-2', 'ringwire-2', 1_250_000, 41000),
    throughputRun('plain-net', 'plain-net', 640_000, 41001),
    throughputRun(EVIL, 'external', 312_500, 41002),
  ];
  return {
    kind: 'comparison',
    node: 'v20.20.2',
    comparison: {
      workload: 'throughput',
      baseline: 'ringwire-2',
      runs,
      ratios: { 'ringwire-2': 1, 'plain-net': 0.512, [EVIL]: 0.25 },
      failures: { ws: 'exited before it was ready: <b>EADDRINUSE</b>' },
    },
  };
}

/** Checks the page is one self-contained document. */
function expectSelfContained(html: string): void {
  expect(html.startsWith('<!doctype html>')).toBe(true);
  expect(html).toMatch(/<\/html>\s*$/);
  expect(html).not.toMatch(/(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
  expect(html).not.toMatch(/<script|<link|<iframe|<img|@import|url\(/i);
  expect(html.match(/<svg/g)?.length ?? 0).toBe(html.match(/<\/svg>/g)?.length ?? 0);
  expect(html).not.toMatch(/NaN|Infinity|undefined|\[object/);
}

describe('renderHtml', () => {
  it('names the versions, the machine and the command line', () => {
    const html = renderHtml({
      kind: 'run',
      node: 'v20.20.2',
      environment: { ringwire: '9.8.7', node: 'v20.20.2', cpuModel: 'Test CPU @ 3GHz', cpuCount: 2, platform: 'linux 6.1', command: ['latency', '-c', '100'] },
      run: latencyRun(),
    });
    expectSelfContained(html);
    for (const text of ['9.8.7', '2 × Test CPU @ 3GHz', 'linux 6.1', 'ringwire-bench latency -c 100']) expect(html).toContain(text);
  });

  it('renders a single run: settings, every figure, integrity colours and the charts', () => {
    const html = renderHtml({ kind: 'run', node: 'v20.20.2', run: latencyRun() });
    expectSelfContained(html);
    // Header and settings.
    expect(html).toContain('soak');
    expect(html).toContain('2025-06-02 14:03:27 UTC');
    expect(html).toContain('v20.20.2');
    expect(html).toContain('127.0.0.1:40001');
    expect(html).toContain('20–300 B');
    expect(html).toContain('60 datagrams/s');
    expect(html).toContain('5 s measured after 1 s warm-up');
    // Throughput, latency and errors.
    for (const label of ['>min<', '>p95<', '>p99.99<', '>stdev<']) expect(html, label).toContain(label);
    for (const figure of ['2,882', '2,880', '0.46', '0.45', '14,412', '14,398', '0.412', '0.733', '1.23', '2.71', '14.4', '80.1', '188', '0.512', '0.988', '>17<']) {
      expect(html, figure).toContain(figure);
    }
    // Counts that must be zero: green at zero, red otherwise.
    expect(html).toContain('<td class="bad">3</td>'); // reordered
    expect(html).toContain('<td class="bad">2</td>'); // resets
    expect(html.match(/<td class="good">0<\/td>/g)).toHaveLength(4); // connect failed, lost, duplicated, corrupted
    // Charts: throughput over time (sent and received), the percentile curve, the p99 per second.
    expect(html).toContain('aria-label="Datagrams sent and received per second over the measured window"');
    expect(html).toContain('aria-label="Latency by percentile"');
    expect(html).toContain('aria-label="p99 round-trip time of each second"');
    expect(html).toMatch(/<polyline[^>]+stroke-dasharray/); // sent/s, dashed
    for (const label of ['>0%<', '>90%<', '>99%<', '>99.9%<', '>99.99%<']) expect(html).toContain(label);
    // A null p99 second breaks the line in two.
    const p99Chart = html.slice(html.indexOf('aria-label="p99 round-trip time of each second"'));
    expect(p99Chart.slice(0, p99Chart.indexOf('</svg>')).match(/<polyline/g)).toHaveLength(2);
  });

  it('renders a comparison: bars with ratios, one line per target, escaped names, no latency', () => {
    const html = renderHtml(comparison());
    expectSelfContained(html);
    expect(html).toContain('aria-label="Received datagrams per second by target"');
    for (const figure of ['1,250,000', '640,000', '312,500', '1.00× (baseline)', '0.51×', '0.25×', '125.00', '64.00', '31.25']) {
      expect(html, figure).toContain(figure);
    }
    // The hostile target name only ever appears escaped.
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('"x")');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co');
    // Throughput over time: received and sent lines for each of the three targets.
    const timeline = html.slice(html.indexOf('aria-label="Datagrams sent and received per second'));
    expect(timeline.slice(0, timeline.indexOf('</svg>')).match(/<polyline/g)).toHaveLength(6);
    // A target that could not be measured is named, with its reason, escaped.
    expect(html).toContain('Not measured');
    expect(html).toContain('exited before it was ready: &lt;b&gt;EADDRINUSE&lt;/b&gt;');
    // Nothing measured the latency or checked integrity.
    expect(html).not.toContain('aria-label="Latency by percentile"');
    expect(html).toContain('No round-trip latency was measured');
    expect(html).toContain('not checked');
  });

  it('renders a latency comparison: a curve per target, p99 ratios, the grace setting', () => {
    const a = latencyRun();
    const b = { ...latencyRun(), target: 'ws', targetKind: 'ws' as const };
    b.latency = { ...b.latency!, p99Ms: 4.066, curve: b.latency!.curve.map((p) => ({ ...p, ms: p.ms * 1.5 })) };
    a.settings.graceSeconds = 2;
    a.serverCpu = { cpuSeconds: 1.234, perDatagramUs: 42.25, cores: 0.2468 };
    b.serverCpu = null;
    const html = renderHtml({
      kind: 'comparison',
      node: 'v20.20.2',
      comparison: {
        workload: 'latency',
        baseline: 'ringwire-2',
        runs: [a, b],
        ratios: { 'ringwire-2': 1, ws: 1 },
        p99Ratios: { 'ringwire-2': 1, ws: 1.5 },
        cpuRatios: { 'ringwire-2': 1 },
      },
    });
    expectSelfContained(html);
    expect(html).toContain('Server CPU (user + system, whole process, measured window)');
    expect(html).toContain('42.25');
    expect(html).toContain('µs per datagram vs ringwire-2 (lower is better)');
    expect(html).toContain('server not started by the harness');
    expect(html).toContain('Grace for the last echoes');
    expect(html).toContain('p99 vs ringwire-2 (lower is better)');
    // The bar chart of a latency comparison shows the figure that differs: the p99.
    expect(html).toContain('p99 round trip, by target (lower is better)');
    expect(html).not.toContain('Received datagrams per second, by target');
    expect(html).toContain('4.07 ms · 1.50×');
    expect(html).toContain('1.50×');
    expect(html).toContain('4.07');
    const curve = html.slice(html.indexOf('aria-label="Latency by percentile"'));
    expect(curve.slice(0, curve.indexOf('</svg>')).match(/<polyline/g)).toHaveLength(2);
  });

  it('shows the connections workload and survives missing or non-finite figures', () => {
    const run = throughputRun('ringwire-1', 'ringwire-1', 100, 42000);
    run.settings.workload = 'connections';
    run.connections = { requested: 5000, held: 4990, acceptPerSecond: 812.4, serverBytesPerConnection: 10_650 };
    run.throughput.sentMBPerSecond = Number.NaN;
    run.timeline = [];
    const html = renderHtml({ kind: 'run', node: 'v20.20.2', run });
    expectSelfContained(html);
    expect(html).toContain('5,000');
    expect(html).toContain('<td class="bad">4,990</td>');
    expect(html).toContain('812');
    expect(html).toContain('10.4 KiB');
    expect(html).toContain('No per-second samples');
    expect(html).toContain('—');
  });

  it('escapes every string it embeds, settings and node version included', () => {
    const run = latencyRun();
    run.settings.host = '"><b>host</b>';
    run.startedAt = '<i>soon</i>';
    const html = renderHtml({ kind: 'run', node: '<u>node</u>', run });
    expect(html).not.toMatch(/<b>host|<i>soon|<u>node/);
    expect(html).toContain('&lt;u&gt;node&lt;/u&gt;');
    expect(html).toContain('&quot;&gt;&lt;b&gt;host&lt;/b&gt;');
  });
});
