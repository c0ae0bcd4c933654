/**
 * The scenario page: a percentile curve from the merged histograms, a panel per trend
 * (the scenario's own first), every figure of the report, every string escaped, nothing
 * fetched from anywhere, and no NaN when a part has nothing to show.
 */
import { describe, expect, it } from 'vitest';
import { BuiltIn, MetricSet, newHistogram, trendPercentile } from './metrics.js';
import { summarize } from './run-aggregate.js';
import type { ScenarioReport } from './run-scenario.js';
import { renderScenarioHtml, trendCurve } from './scenario-html.js';

const HOSTILE = '<img src=x onerror="alert(1)">';

/** A report of two generators: a custom trend over both, a hostile name, every kind of metric. */
function report(): ScenarioReport {
  const generators = [MetricSet.withBuiltIns(), MetricSet.withBuiltIns()];
  generators.forEach((set, g) => {
    for (let i = 1; i <= 500; i++) set.addTrend('input_to_state', i / 10 + g * 50);
    set.addTrend(HOSTILE, 1);
    set.addTrend(BuiltIn.CONNECT_TIME, 2 + g);
    set.addCounter('datagrams_sent', 1000);
    set.addCounter('snapshots', 300);
    set.addRate('fresh_state', g === 0);
    set.setGauge('players', 10);
    set.addCheck('state parsed', true);
    set.addCheck(HOSTILE, g === 0);
  });
  const merged = MetricSet.merged(generators);
  return {
    kind: 'scenario',
    scenario: `game/${HOSTILE}.ts`,
    generators: 2,
    vanished: [],
    durationSeconds: 3,
    shape: { bots: 20, durationSeconds: 3, stages: null, arrivalRate: null, maxBots: 10_000, headerSize: 2, gracefulStopSeconds: 1, warmupSeconds: 0 },
    interrupted: false,
    abortedBy: null,
    summary: summarize(merged, 3),
    thresholds: [
      { metric: 'input_to_state', source: 'p(99) < 50', ok: false, actual: 99.5 },
      { metric: 'checks', source: 'rate > 0.5', ok: true, actual: 0.75 },
    ],
    errors: {},
    series: [1, 2, 3].map((t) => ({
      t,
      bots: 20,
      sentPerSecond: 666,
      receivedPerSecond: 600,
      errors: 0,
      trends: { input_to_state: { count: 333, p50: 25 * t, p99: 49 * t } },
    })),
    metrics: generators.map((set) => set.snapshot()),
  };
}

describe('trendCurve', () => {
  it('HdrHistogram-style percentiles, down to what the sample count resolves, then the max at 100', () => {
    const histogram = newHistogram();
    for (let i = 1; i <= 1000; i++) histogram.recordValue(i * 1000);
    const curve = trendCurve(histogram);
    expect(curve[0]).toEqual({ percentile: 0, value: trendPercentile(histogram, 0) });
    expect(curve.at(-1)).toEqual({ percentile: 100, value: trendPercentile(histogram, 100) });
    expect(curve.some((p) => p.percentile === 50)).toBe(true);
    for (let i = 1; i < curve.length; i++) {
      expect(curve[i].percentile).toBeGreaterThan(curve[i - 1].percentile);
      expect(curve[i].value).toBeGreaterThanOrEqual(curve[i - 1].value);
    }
    // 1,000 samples resolve up to the 99.9th percentile, not beyond.
    const deepest = curve.at(-2)!.percentile;
    expect(deepest).toBeGreaterThan(99.8);
    expect(deepest).toBeLessThanOrEqual(99.9);
    expect(trendCurve(newHistogram())).toEqual([]);
  });
});

describe('renderScenarioHtml', () => {
  const html = renderScenarioHtml(report());

  it('is one self-contained document: no script, no URL', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|@import|url\(|(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('escapes every name', () => {
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
  });

  it('a panel per trend with its percentile curve and its seconds, the scenario\'s own first', () => {
    for (const name of ['input_to_state', 'connect_time', 'schedule_lag']) expect(html).toContain(`>${name}`);
    expect(html).toContain('aria-label="input_to_state by percentile"');
    expect(html).toContain('aria-label="input_to_state: p50 and p99 of each second"');
    expect(html).toContain('aria-label="connect_time by percentile"');
    expect(html.indexOf('id="trend-0"')).toBeLessThan(html.indexOf('id="trend-2"'));
    expect(html.slice(html.indexOf('id="trend-0"'))).toMatch(/^id="trend-0">\n<h2>input_to_state /);
    // schedule_lag has no sample: said so, no chart.
    const lag = html.slice(html.indexOf('<h2>schedule_lag'));
    expect(lag.slice(0, lag.indexOf('</section>'))).toContain('No samples.');
  });

  it('the curve is the merged histogram\'s: its max is the max over both generators', () => {
    const curve = html.slice(html.indexOf('aria-label="input_to_state by percentile"'));
    const svg = curve.slice(0, curve.indexOf('</svg>'));
    // y ticks reach the merged max (100), not one generator's (50).
    expect(svg).toMatch(/>100<\/text>/);
    expect(svg.match(/<polyline/g)).toHaveLength(1);
  });

  it('thresholds with ✓/✗ and the value judged, counters, rates, checks and gauges', () => {
    expect(html).toContain('✗ 1 of 2 thresholds failed');
    expect(html).toMatch(/class="bad mark">✗<\/td><th scope="row">input_to_state<\/th><td class="left"><code>p\(99\) &lt; 50<\/code><\/td><td>99.5<\/td>/);
    expect(html).toMatch(/class="good mark">✓<\/td><th scope="row">checks<\/th>.*<td>0.75<\/td>/);
    expect(html).toMatch(/<th scope="row">snapshots<\/th><td>600<\/td><td>200<\/td>/);
    expect(html).toMatch(/<th scope="row">fresh_state<\/th><td>50.00 %<\/td><td>1<\/td><td>2<\/td>/);
    expect(html).toMatch(/<th scope="row">check: state parsed<\/th><td class="good">100.00 %<\/td>/);
    expect(html).toMatch(/<th scope="row">players<\/th><td>20<\/td>/);
    expect(html).toContain('aria-label="Bots over time"');
    expect(html).toContain('aria-label="Datagrams sent and received per second"');
  });

  it('a report without series or generator metrics still renders, saying what is missing', () => {
    const bare = { ...report(), series: [], metrics: [] };
    const page = renderScenarioHtml(bare);
    expect(page).toContain('No per-second samples in this report.');
    expect(page).toContain('The report holds no histogram for this trend');
    expect(page).not.toMatch(/NaN|undefined|Infinity/);
  });
});
