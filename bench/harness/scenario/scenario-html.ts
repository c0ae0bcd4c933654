/**
 * `run --html FILE`: one self-contained page for a scenario run (a ScenarioReport). Inline
 * CSS and SVG, no script, no font, no URL: the file can be mailed, opened offline or
 * screenshot (screenshot.ts), like the echo workloads' page (html-report.ts), whose
 * charts and style it shares.
 *
 * The page: a header (scenario, generators, duration, load shape), the thresholds (✓/✗
 * with the value each was judged on), the load over time (bots; datagrams/s each way),
 * then every trend, the scenario's own first: its figures, its percentile curve on
 * HdrHistogram's "nines" axis (from the histograms of every generator, merged: the exact
 * curve of every sample) and its p50 and p99 of each second; then counters, rates and
 * checks, gauges.
 *
 * Every string taken from the report is escaped; every number is checked to be finite.
 */
import type { Histogram } from 'hdr-histogram-js';
import { esc, formatCompact, formatFixed, formatInt, formatMs, formatMsTick, isFiniteNumber, PAGE_CSS, section } from '../output/html-page.js';
import {
  type Axis,
  CHART_CSS,
  legend,
  lineChart,
  MARGIN,
  linearAxis,
  logAxis,
  type Mark,
  niceAxis,
  nines,
  PALETTE,
  percentileLabel,
  type Series,
  type Tick,
} from '../output/svg-chart.js';
import { BuiltIn, MetricSet, trendPercentile, type TrendSummary } from './metrics.js';
import type { RunShape, ScenarioReport } from './run-scenario.js';

/** A chart in one of the two columns of a panel (SVG units, drawn at about 1:1). */
const HALF_WIDTH = 470;
const HALF_HEIGHT = 280;

/** The built-in trends, shown after the scenario's own. */
const BUILT_IN_TRENDS: ReadonlySet<string> = new Set([BuiltIn.CONNECT_TIME, BuiltIn.SCHEDULE_LAG]);

/** One point of a percentile curve: percentile (0–100) → value (the trend's unit). */
export interface CurvePoint {
  percentile: number;
  value: number;
}

/**
 * A trend's percentile curve, as HdrHistogram plots it: five points per halving of the
 * distance to 100 % (0, 12.9, 24.2, …, 50, …, 75, …, 99, …), down to the deepest
 * percentile the sample count resolves, then the maximum at 100. Empty without samples.
 */
export function trendCurve(histogram: Histogram): CurvePoint[] {
  const count = histogram.totalCount;
  if (count === 0) return [];
  const curve: CurvePoint[] = [];
  for (let i = 0; i < 200; i++) {
    const percentile = 100 * (1 - 0.5 ** (i / 5));
    if (1 - percentile / 100 < 1 / count) break;
    curve.push({ percentile, value: trendPercentile(histogram, percentile)! });
  }
  curve.push({ percentile: 100, value: trendPercentile(histogram, 100)! });
  return curve;
}

/** Renders `report` as a complete HTML document. */
export function renderScenarioHtml(report: ScenarioReport): string {
  const merged = MetricSet.merged(report.metrics ?? []);
  const names = Object.keys(report.summary.trends);
  const trendNames = [...names.filter((name) => !BUILT_IN_TRENDS.has(name)), ...names.filter((name) => BUILT_IN_TRENDS.has(name))];
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(`ringwire-bench · ${report.scenario}`)}</title>`,
    `<style>${PAGE_CSS}${CHART_CSS}${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    header(report),
    thresholdsSection(report),
    loadSection(report),
    trendsSection(report, trendNames),
    ...trendNames.map((name, i) => trendSection(report, name, i, merged.trends.get(name))),
    errorsSection(report),
    countersSection(report),
    ratesSection(report),
    gaugesSection(report),
    '<footer>Made by ringwire-bench. Trend values are as the scenario added them (ms for timings); percentiles come from the HDR histograms of every generator, merged.</footer>',
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// ── sections ────────────────────────────────────────────────────────────────

function header(report: ScenarioReport): string {
  const vanished = Array.isArray(report.vanished) && report.vanished.length > 0 ? ` (${report.vanished.map(String).join(', ')} vanished: last figures counted)` : '';
  const badges: string[] = [];
  if (report.interrupted) badges.push('<span class="badge bad">interrupted</span>');
  if (report.abortedBy) badges.push(`<span class="badge bad">ended early: ${esc(`${report.abortedBy.metric}: ${report.abortedBy.source}`)} failed</span>`);
  const failed = report.thresholds.filter((result) => !result.ok).length;
  if (report.thresholds.length > 0) {
    badges.push(failed === 0 ? `<span class="badge good">✓ ${report.thresholds.length === 1 ? 'the threshold' : `all ${report.thresholds.length} thresholds`} passed</span>` : `<span class="badge bad">✗ ${failed} of ${report.thresholds.length} thresholds failed</span>`);
  }
  return `<header>
<h1>ringwire-bench <span class="workload">${esc(report.scenario)}</span></h1>
<p class="meta"><span><b>Generators</b> ${esc(`${formatInt(report.generators)}${vanished}`)}</span><span><b>Duration</b> ${esc(formatFixed(report.durationSeconds, 1))} s</span><span><b>Load</b> ${esc(shapeText(report.shape))}</span>${isFiniteNumber(report.shape?.headerSize) ? `<span><b>TCP header</b> ${esc(report.shape.headerSize)}</span>` : ''}</p>
${badges.length > 0 ? `<p class="badges">${badges.join(' ')}</p>` : ''}
</header>`;
}

/** "20 bots for 15 s", "stages 30 s → 100, 60 s → 0", "5 new bots/s for 30 s (at most 10,000)". */
function shapeText(shape: RunShape | undefined): string {
  if (shape === undefined || shape === null) return '—';
  if (Array.isArray(shape.stages) && shape.stages.length > 0) {
    return `stages ${shape.stages.map((stage) => `${formatCompact(stage.durationSeconds)} s → ${formatInt(stage.target)}`).join(', ')}`;
  }
  if (isFiniteNumber(shape.arrivalRate)) return `${formatCompact(shape.arrivalRate)} new bots/s for ${formatCompact(shape.durationSeconds)} s (at most ${formatInt(shape.maxBots)})`;
  return `${formatInt(shape.bots)} bots for ${formatCompact(shape.durationSeconds)} s`;
}

function thresholdsSection(report: ScenarioReport): string {
  if (report.thresholds.length === 0) return section('Thresholds', '<p class="note">None: the scenario and the command line set no thresholds.</p>');
  const rows = report.thresholds.map(
    (result) =>
      `<tr><td class="${result.ok ? 'good' : 'bad'} mark">${result.ok ? '✓' : '✗'}</td><th scope="row">${esc(result.metric)}</th><td class="left"><code>${esc(result.source)}</code></td><td>${result.actual === null ? '<span class="na">no data</span>' : esc(formatValue(result.actual))}</td></tr>`,
  );
  const note = report.thresholds.some((result) => !result.ok) ? '<p class="note">A failed threshold makes the exit status 99.</p>' : '';
  return section(
    'Thresholds',
    `<div class="table-wrap"><table class="summary narrow"><thead><tr><th scope="col"></th><th scope="col" class="left">metric</th><th scope="col" class="left">threshold</th><th scope="col">actual</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>${note}`,
  );
}

function loadSection(report: ScenarioReport): string {
  const series = (report.series ?? []).filter((point) => isFiniteNumber(point.t));
  if (series.length === 0) return section('Load over time', '<p class="note">No per-second samples in this report.</p>');
  const bots: Series[] = [{ name: 'bots', color: PALETTE[2], dashed: false, points: series.map((p) => [p.t, p.bots]) }];
  const rates: Series[] = [
    { name: 'received/s', color: PALETTE[0], dashed: false, points: series.map((p) => [p.t, p.receivedPerSecond]) },
    { name: 'sent/s', color: PALETTE[1], dashed: true, points: series.map((p) => [p.t, p.sentPerSecond]) },
  ];
  const seconds = (s: Series[]): Axis => linearAxis(s, 0, 'seconds into the run', formatCompact);
  const parts = [
    figure(
      'Bots',
      lineChart({ label: 'Bots over time', x: seconds(bots), y: linearAxis(bots, 1, 'bots', formatCompact), series: bots, width: HALF_WIDTH, height: HALF_HEIGHT }),
      legend([{ name: 'bots', color: PALETTE[2], dashed: false }], HALF_WIDTH),
    ),
    figure(
      'Datagrams per second, each way',
      lineChart({ label: 'Datagrams sent and received per second', x: seconds(rates), y: linearAxis(rates, 1, 'datagrams per second', formatCompact), series: rates, width: HALF_WIDTH, height: HALF_HEIGHT }),
      legend(rates.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })), HALF_WIDTH),
    ),
  ];
  if (series.some((p) => isFiniteNumber(p.errors) && p.errors > 0)) {
    const errors: Series[] = [{ name: 'errors/s', color: '#b42318', dashed: false, points: series.map((p) => [p.t, p.errors]) }];
    parts.push(
      figure(
        'Errors per second',
        lineChart({ label: 'Errors per second', x: seconds(errors), y: linearAxis(errors, 1, 'errors per second', formatCompact), series: errors, width: HALF_WIDTH, height: HALF_HEIGHT }),
        '',
      ),
    );
  }
  return section('Load over time', `<div class="pair">\n${parts.join('\n')}\n</div>`);
}

/** One table of every trend's figures, each name a link to its panel. */
function trendsSection(report: ScenarioReport, names: string[]): string {
  if (names.length === 0) return section('Trends', '<p class="note">No trend in this report.</p>');
  const head = ['trend', 'count', 'min', 'p50', 'p90', 'p95', 'p99', 'p99.9', 'max', 'avg'].map((title, i) => `<th scope="col"${i === 0 ? ' class="left"' : ''}>${title}</th>`).join('');
  const rows = names.map((name, i) => {
    const t = report.summary.trends[name];
    const tag = BUILT_IN_TRENDS.has(name) ? ' <span class="tag">built-in</span>' : '';
    const cells = [t.min, t.p50, t.p90, t.p95, t.p99, t.p999, t.max, t.avg].map((value) => `<td>${esc(formatMs(value))}</td>`).join('');
    return `<tr><th scope="row"><a href="#trend-${i}">${esc(name)}</a>${tag}</th><td>${esc(formatInt(t.count))}</td>${cells}</tr>`;
  });
  return section(
    'Trends',
    `<div class="table-wrap"><table class="summary"><thead><tr>${head}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div><p class="note">Values as the scenario added them (ms for timings); connect_time is each bot's connect, schedule_lag how late its every() and after() calls came.</p>`,
  );
}

/** A trend's panel: its percentile curve and its p50 and p99 of each second. */
function trendSection(report: ScenarioReport, name: string, index: number, histogram: Histogram | undefined): string {
  const summary: TrendSummary = report.summary.trends[name];
  const title = `${name}${BUILT_IN_TRENDS.has(name) ? ' (built-in)' : ''}`;
  const body = summary.count === 0 ? '<p class="note">No samples.</p>' : `<div class="pair">\n${curveFigure(name, summary, histogram)}\n${secondsFigure(report, name)}\n</div>`;
  return `<section id="trend-${index}">\n<h2>${esc(title)} <span class="count">${esc(formatInt(summary.count))} samples</span></h2>\n${body}\n</section>`;
}

function curveFigure(name: string, summary: TrendSummary, histogram: Histogram | undefined): string {
  const curve = histogram === undefined ? [] : trendCurve(histogram);
  if (curve.length === 0) return figure('Percentile curve', '<p class="note">The report holds no histogram for this trend (a report without its generators\' metrics).</p>', '');
  const deepest = curve.filter((p) => p.percentile < 100).reduce((most, p) => Math.max(most, nines(p.percentile)), Math.log10(Math.max(1, summary.count)) - 0.01);
  const maxNines = Math.min(6, Math.max(2, Math.ceil(deepest - 1e-9)));
  const color = PALETTE[0];
  const points = curve.map((p): [number, number] => [Math.min(nines(p.percentile), maxNines), p.value]);
  const marks: Mark[] = [];
  for (const [percentile, value] of [
    [50, summary.p50],
    [90, summary.p90],
    [99, summary.p99],
    [99.9, summary.p999],
  ] as const) {
    if (isFiniteNumber(value) && nines(percentile) <= maxNines) marks.push({ x: nines(percentile), y: value, color, title: `p${percentile} = ${formatMs(value)}` });
  }
  // 50 % sits close to 0 % on an axis of many nines: its label only where it fits.
  const room = (nines(50) / maxNines) * (HALF_WIDTH - MARGIN.left - MARGIN.right);
  const xTicks: Tick[] = [{ value: 0, label: '0%' }, { value: nines(50), label: room >= 40 ? '50%' : '', minor: true }];
  for (let k = 1; k <= maxNines; k++) xTicks.push({ value: k, label: `${percentileLabel(k)}%` });
  const values = points.map((p) => p[1]);
  const maxY = Math.max(0, ...values);
  const positive = values.filter((v) => v > 0);
  // A tail thirty times the median flattens the body of a linear plot: go logarithmic.
  const logScale = isFiniteNumber(summary.p50) && summary.p50 > 0 && positive.length > 0 && maxY / summary.p50 > 30;
  const y = logScale ? logAxis(Math.min(...positive), maxY, `${name} (log scale)`, formatMsTick) : niceAxis(0, maxY, name, formatMsTick);
  const chart = lineChart({
    label: `${name} by percentile`,
    x: { min: 0, max: maxNines, ticks: xTicks, title: 'percentile (log scale of nines)' },
    y,
    series: [{ name, color, dashed: false, points }],
    marks,
    width: HALF_WIDTH,
    height: HALF_HEIGHT,
  });
  return figure('Percentile curve', chart, '<p class="note">Dots mark p50, p90, p99 and p99.9; the line ends at the maximum.</p>');
}

function secondsFigure(report: ScenarioReport, name: string): string {
  const series = (report.series ?? []).filter((point) => isFiniteNumber(point.t));
  const pick = (key: 'p50' | 'p99'): [number, number][] =>
    series.map((point): [number, number] => {
      const value = point.trends?.[name]?.[key];
      return [point.t, isFiniteNumber(value) ? value : Number.NaN];
    });
  const lines: Series[] = [
    { name: 'p99', color: PALETTE[1], dashed: false, points: pick('p99') },
    { name: 'p50', color: PALETTE[0], dashed: false, points: pick('p50') },
  ];
  if (lines.every((s) => s.points.every((p) => !Number.isFinite(p[1])))) return figure('Each second', '<p class="note">No per-second figures for this trend.</p>', '');
  const positive = lines.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v) && v > 0);
  const medians = lines[1].points.map((p) => p[1]).filter((v) => Number.isFinite(v) && v > 0).sort((a, b) => a - b);
  const median = medians.length === 0 ? 0 : medians[medians.length >> 1];
  // A second whose p99 is thirty times the usual p50 would flatten the p50 line: go logarithmic.
  const logScale = median > 0 && Math.max(...positive) / median > 30;
  const chart = lineChart({
    label: `${name}: p50 and p99 of each second`,
    x: linearAxis(lines, 0, 'seconds into the run', formatCompact),
    y: logScale ? logAxis(Math.min(...positive), Math.max(...positive), `${name} (log scale)`, formatMsTick) : linearAxis(lines, 1, name, formatMsTick),
    series: lines,
    width: HALF_WIDTH,
    height: HALF_HEIGHT,
  });
  return figure('p50 and p99 of each second', chart, legend(lines.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })), HALF_WIDTH));
}

/** What the bots threw, by message, most frequent first (absent when nothing was thrown). */
function errorsSection(report: ScenarioReport): string {
  const entries = Object.entries(report.errors ?? {}).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return '';
  const rows = entries.map(([message, count]) => `<tr><th scope="row">${esc(message)}</th><td>${esc(formatInt(count))}</td></tr>`);
  return section('Errors: what the bots threw', table(['message', 'times'], rows));
}

function countersSection(report: ScenarioReport): string {
  const entries = Object.entries(report.summary.counters);
  if (entries.length === 0) return section('Counters', '<p class="note">No counter in this report.</p>');
  const rows = entries.map(([name, c]) => `<tr><th scope="row">${esc(name)}</th><td>${esc(formatInt(c.count))}</td><td>${esc(formatRate(c.perSecond))}</td></tr>`);
  return section('Counters', table(['counter', 'total', 'per second'], rows));
}

function ratesSection(report: ScenarioReport): string {
  const rows: string[] = [];
  const row = (label: string, r: { passes: number; total: number; rate: number | null }, judged: boolean): string => {
    const cls = !judged || r.rate === null ? '' : r.rate === 1 ? ' class="good"' : ' class="bad"';
    return `<tr><th scope="row">${label}</th><td${cls}>${esc(formatPercent(r.rate))}</td><td>${esc(formatInt(r.passes))}</td><td>${esc(formatInt(r.total))}</td></tr>`;
  };
  for (const [name, r] of Object.entries(report.summary.rates)) rows.push(row(esc(name), r, false));
  for (const [name, r] of Object.entries(report.summary.checks)) {
    rows.push(row(name === BuiltIn.CHECKS ? '<b>checks (all)</b>' : `check: ${esc(name)}`, r, true));
  }
  if (rows.length === 0) return section('Rates and checks', '<p class="note">No rate or check in this report.</p>');
  return section('Rates and checks', `${table(['rate', 'share', 'true', 'of'], rows)}<p class="note">A check is green when every one passed.</p>`);
}

function gaugesSection(report: ScenarioReport): string {
  const entries = Object.entries(report.summary.gauges);
  if (entries.length === 0) return section('Gauges', '<p class="note">No gauge in this report.</p>');
  const rows = entries.map(
    ([name, g]) => `<tr><th scope="row">${esc(name)}</th><td>${esc(formatValue(g.value))}</td><td>${esc(formatValue(g.min))}</td><td>${esc(formatValue(g.max))}</td></tr>`,
  );
  return section('Gauges', `${table(['gauge', 'last', 'min', 'max'], rows)}<p class="note">Each generator's gauge added up (a level such as bots held); min and max are the sums of theirs.</p>`);
}

// ── pieces ──────────────────────────────────────────────────────────────────

function figure(title: string, chart: string, after: string): string {
  return `<figure>\n<h3>${esc(title)}</h3>\n${chart}\n${after}\n</figure>`;
}

function table(head: string[], rows: string[]): string {
  const cells = head.map((title, i) => `<th scope="col"${i === 0 ? ' class="left"' : ''}>${esc(title)}</th>`).join('');
  return `<div class="table-wrap"><table class="summary narrow"><thead><tr>${cells}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

/** Six significant digits, trailing zeros dropped: 23.311, 0.99995, 1,052.69, 40. */
function formatValue(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  if (Number.isInteger(value)) return formatInt(value);
  const abs = Math.abs(value);
  if (abs >= 1e15 || abs < 1e-6) return value.toPrecision(6);
  const decimals = Math.max(0, 5 - Math.floor(Math.log10(abs)));
  return formatFixed(value, decimals).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

function formatRate(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  return Math.abs(value) < 100 && !Number.isInteger(value) ? formatFixed(value, 1) : formatInt(value);
}

function formatPercent(rate: number | null): string {
  return rate === null || !isFiniteNumber(rate) ? '—' : `${(rate * 100).toFixed(2)} %`;
}

// ── style ───────────────────────────────────────────────────────────────────

const CSS = `
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 8px 18px; }
figure { margin: 0; min-width: 0; }
figure h3 { margin-top: 4px; }
.badges { margin: 10px 0 0; }
.badge { display: inline-block; font-weight: 650; border-radius: 6px; padding: 2px 10px; margin-right: 8px; }
.badge.good { color: var(--good); background: var(--good-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
h2 .count { font-size: 13px; font-weight: 500; color: var(--muted); margin-left: 8px; }
.summary td.mark { text-align: center; width: 2.5em; }
.summary th.left, .summary td.left { text-align: left; }
.summary th[scope="row"] a { color: var(--ink); }
.summary .na { color: #98a1ab; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
`;
