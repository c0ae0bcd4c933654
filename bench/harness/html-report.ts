/**
 * `--html FILE`: one self-contained page for a harness report. Inline CSS, inline SVG
 * charts drawn here, no script, no font, no external URL: the file can be mailed, opened
 * offline, or screenshot (screenshot.ts).
 *
 * The page: a header (workload, targets, date, Node version), the run's settings, one
 * summary table (a column per target: throughput, latency percentiles, errors, integrity
 * counts with zero in green and anything else in red), then charts: received datagrams/s
 * per target with its ratio to the baseline (comparisons), throughput over time (sent and
 * received per second), the latency percentile curve on HdrHistogram's "nines" axis, and
 * the p99 of each second. A part with nothing to show (a throughput run has no latency, a
 * run that is not a soak has no integrity counts) says so instead of drawing an empty chart.
 *
 * Every string taken from the report is escaped; every number is checked to be finite.
 */
import {
  esc,
  formatBytes,
  formatCompact,
  formatDate,
  formatFixed,
  formatInt,
  formatMs,
  formatMsTick,
  formatNumber,
  formatRatio,
  isFiniteNumber,
  PAGE_CSS,
  section,
} from './output/html-page.js';
import {
  CHART_CSS,
  CHART_WIDTH,
  coord,
  legend,
  lineChart,
  linearAxis,
  logAxis,
  type Mark,
  niceAxis,
  nines,
  PALETTE,
  percentileLabel,
  type Series,
  type Tick,
} from './output/svg-chart.js';
import type { HarnessReport, RunReport, RunSettings } from './report.js';

/** Renders `report` (one run or a comparison) as a complete HTML document. */
export function renderHtml(report: HarnessReport): string {
  const page = pageModel(report);
  const title = `ringwire-bench · ${page.workload} · ${page.runs.map((run) => run.target).join(' vs ')}`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(title)}</title>`,
    `<style>${PAGE_CSS}${CHART_CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    header(page),
    settingsSection(page),
    summarySection(page),
    page.kind === 'comparison' ? comparisonSection(page) : '',
    throughputSection(page),
    latencySection(page),
    footer(),
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// ── the page's model ────────────────────────────────────────────────────────

interface PageModel {
  kind: 'run' | 'comparison';
  workload: string;
  node: string;
  runs: RunReport[];
  /** One color per run, by index. */
  colors: string[];
  baseline: string | null;
  ratios: Record<string, number>;
  /** Latency comparisons: target → p99 / the baseline's p99. */
  p99Ratios: Record<string, number>;
  /** target → server CPU per datagram / the baseline's. */
  cpuRatios: Record<string, number>;
  /** Targets of a comparison that could not be measured → why. */
  failures: [string, string][];
  /** Versions, machine and command line (null in older reports). */
  environment: HarnessReport['environment'] | null;
}

function pageModel(report: HarnessReport): PageModel {
  const runs = report.kind === 'run' ? [report.run] : report.comparison.runs;
  const workload = report.kind === 'run' ? report.run.settings.workload : report.comparison.workload;
  return {
    kind: report.kind,
    workload: String(workload),
    node: String(report.node),
    runs,
    colors: runs.map((_, i) => PALETTE[i % PALETTE.length]),
    baseline: report.kind === 'comparison' ? String(report.comparison.baseline) : null,
    ratios: report.kind === 'comparison' ? (report.comparison.ratios ?? {}) : {},
    p99Ratios: report.kind === 'comparison' ? (report.comparison.p99Ratios ?? {}) : {},
    cpuRatios: report.kind === 'comparison' ? (report.comparison.cpuRatios ?? {}) : {},
    environment: report.environment ?? null,
    failures: report.kind === 'comparison' ? Object.entries(report.comparison.failures ?? {}).map(([t, why]) => [t, String(why)]) : [],
  };
}

// ── sections ────────────────────────────────────────────────────────────────

function header(page: PageModel): string {
  const started = page.runs.length > 0 ? formatDate(page.runs[0].startedAt) : '—';
  const targets = page.runs
    .map((run, i) => `<span class="target"><span class="swatch" style="background:${page.colors[i]}"></span>${esc(run.target)}</span>`)
    .join(' ');
  return `<header>
<h1>ringwire-bench <span class="workload">${esc(page.workload)}</span> ${page.kind === 'comparison' ? 'comparison' : 'run'}</h1>
<p class="meta"><span><b>Targets</b> ${targets || '—'}</span><span><b>Date</b> ${esc(started)}</span><span><b>Node</b> ${esc(page.node)}</span>${environmentMeta(page)}</p>
${failures(page)}</header>`;
}

/** ringwire's version, the CPUs and the command line, when the report has them. */
function environmentMeta(page: PageModel): string {
  const env = page.environment;
  if (env === null || env === undefined) return '';
  const command = Array.isArray(env.command) ? env.command.map(String).join(' ') : '';
  return (
    `<span><b>ringwire</b> ${esc(String(env.ringwire))}</span>` +
    `<span><b>CPU</b> ${esc(`${String(env.cpuCount)} × ${String(env.cpuModel)}`)}</span>` +
    `<span><b>OS</b> ${esc(String(env.platform))}</span>` +
    `<span><b>Command</b> <code>ringwire-bench ${esc(command)}</code></span>`
  );
}

/** The targets a comparison could not measure, in red, each with its reason. */
function failures(page: PageModel): string {
  if (page.failures.length === 0) return '';
  const items = page.failures.map(([target, why]) => `<li><b>${esc(target)}</b>: ${esc(why)}</li>`).join('');
  return `<div class="failures"><b>Not measured</b><ul>${items}</ul></div>\n`;
}

function settingsSection(page: PageModel): string {
  if (page.runs.length === 0) return section('Settings', '<p class="note">This report holds no runs.</p>');
  const s: RunSettings = page.runs[0].settings;
  const rows: [string, string][] = [
    ['Workload', String(s.workload)],
    ['Connections', formatInt(s.connections)],
    ['Payload', s.payloadMin === s.payloadMax ? `${formatInt(s.payloadMin)} B` : `${formatInt(s.payloadMin)}–${formatInt(s.payloadMax)} B`],
    ['Duration', `${formatNumber(s.durationSeconds)} s measured after ${formatNumber(s.warmupSeconds)} s warm-up`],
    ...(isFiniteNumber(s.graceSeconds) ? ([['Grace for the last echoes', `${formatNumber(s.graceSeconds)} s`]] as [string, string][]) : []),
    ['Rate per connection', s.ratePerConnection > 0 ? `${formatNumber(s.ratePerConnection)} datagrams/s` : 'as fast as the server accepts'],
    ['Connect rate', `${formatNumber(s.connectRate)} connections/s`],
    ['Header size', s.transport === 'udp' ? "2 bytes (Panda3D's UDP checksum)" : headerSizeText(s.headerSize)],
    ['Client shards', formatInt(s.clientShards)],
  ];
  if (page.kind === 'run') {
    rows.push(['Target address', `${String(s.host)}:${String(s.port)}`]);
    rows.push(['Transport', transportText(s.transport) + (s.tls === undefined ? '' : s.tls.verify ? ', over TLS' : ', over TLS (certificate not verified)')]);
  }
  const items = rows.map(([key, value]) => `<div><dt>${esc(key)}</dt><dd>${esc(value)}</dd></div>`).join('\n');
  return section('Settings', `<dl class="settings">\n${items}\n</dl>`);
}

/** One cell of the summary table: its text and a class ('good', 'bad', 'na' or ''). */
interface Cell {
  text: string;
  cls: string;
}

type Row = { group: string } | { note: string } | { label: string; cells: Cell[] };

function summarySection(page: PageModel): string {
  const runs = page.runs;
  if (runs.length === 0) return '';
  const plain = (text: string): Cell => ({ text, cls: '' });
  const na = (text = '—'): Cell => ({ text, cls: 'na' });
  /** A count that must be zero: green when it is, red otherwise. */
  const mustBeZero = (value: number | null | undefined): Cell => {
    if (!isFiniteNumber(value)) return na('not checked');
    return { text: formatInt(value), cls: value === 0 ? 'good' : 'bad' };
  };
  const ms = (pick: (run: RunReport) => number | null | undefined): Cell[] =>
    runs.map((run) =>
      run.latency === null || run.latency === undefined
        ? na('not measured')
        : run.latency.count === 0
          ? na('no round trips')
          : plain(formatMs(pick(run) ?? undefined)),
    );

  const rows: Row[] = [{ group: 'Run' }];
  if (page.kind === 'comparison') {
    rows.push({ label: 'Address', cells: runs.map((run) => plain(`${String(run.settings.host)}:${String(run.settings.port)}`)) });
    rows.push({ label: 'Transport', cells: runs.map((run) => plain((run.settings.transport === 'ws' ? 'WebSocket' : String(run.settings.transport).toUpperCase()) + (run.settings.tls === undefined ? '' : ' over TLS'))) });
  }
  const firstDay = formatDate(runs[0].startedAt).slice(0, 10);
  rows.push({
    label: 'Started (UTC)',
    cells: runs.map((run) => {
      const date = formatDate(run.startedAt);
      // The header gives the date: the time is enough unless a run began on another day.
      return plain(/ UTC$/.test(date) ? (date.slice(0, 10) === firstDay ? date.slice(11, 19) : date.slice(0, 19)) : date);
    }),
  });
  rows.push({ label: 'Measured (s)', cells: runs.map((run) => plain(formatNumber(run.measuredSeconds))) });

  rows.push({ group: 'Throughput' });
  rows.push({ label: 'Sent (datagrams/s)', cells: runs.map((run) => plain(formatInt(run.throughput?.sentPerSecond))) });
  rows.push({ label: 'Received (datagrams/s)', cells: runs.map((run) => plain(formatInt(run.throughput?.receivedPerSecond))) });
  if (page.kind === 'comparison') {
    rows.push({
      label: `Received vs ${page.baseline ?? 'baseline'}`,
      cells: runs.map((run) => {
        const ratio = page.ratios[run.target];
        if (!isFiniteNumber(ratio)) return na();
        return { text: `${formatRatio(ratio)}${run.target === page.baseline ? ' (baseline)' : ''}`, cls: 'ratio' };
      }),
    });
  }
  rows.push({ label: 'Sent (MB/s)', cells: runs.map((run) => plain(formatFixed(run.throughput?.sentMBPerSecond, 2))) });
  rows.push({ label: 'Received (MB/s)', cells: runs.map((run) => plain(formatFixed(run.throughput?.receivedMBPerSecond, 2))) });
  rows.push({ label: 'Datagrams sent', cells: runs.map((run) => plain(formatInt(run.throughput?.sentDatagrams))) });
  rows.push({ label: 'Datagrams received', cells: runs.map((run) => plain(formatInt(run.throughput?.receivedDatagrams))) });

  rows.push({ group: 'Latency (round trip from the intended send time, ms)' });
  if (runs.some((run) => run.latency !== null && run.latency !== undefined)) {
    rows.push({ label: 'min', cells: ms((run) => run.latency?.minMs) });
    rows.push({ label: 'p50', cells: ms((run) => run.latency?.p50Ms) });
    rows.push({ label: 'p90', cells: ms((run) => run.latency?.p90Ms) });
    rows.push({ label: 'p95', cells: ms((run) => run.latency?.p95Ms) });
    rows.push({ label: 'p99', cells: ms((run) => run.latency?.p99Ms) });
    if (Object.keys(page.p99Ratios).length > 0) {
      rows.push({
        label: `p99 vs ${page.baseline ?? 'baseline'} (lower is better)`,
        cells: runs.map((run) => {
          const ratio = page.p99Ratios[run.target];
          if (!isFiniteNumber(ratio)) return na();
          return { text: `${formatRatio(ratio)}${run.target === page.baseline ? ' (baseline)' : ''}`, cls: 'ratio' };
        }),
      });
    }
    rows.push({ label: 'p99.9', cells: ms((run) => run.latency?.p999Ms) });
    rows.push({ label: 'p99.99', cells: ms((run) => run.latency?.p9999Ms) });
    rows.push({ label: 'max', cells: ms((run) => run.latency?.maxMs) });
    rows.push({ label: 'mean', cells: ms((run) => run.latency?.meanMs) });
    rows.push({ label: 'stdev', cells: ms((run) => run.latency?.stdevMs) });
    rows.push({
      label: 'Round trips measured',
      cells: runs.map((run) => (run.latency === null || run.latency === undefined ? na('not measured') : plain(formatInt(run.latency.count)))),
    });
  } else {
    rows.push({ note: `not measured: the ${page.workload} workload does not time round trips (latency and soak do)` });
  }

  rows.push({ group: 'Server CPU (user + system, whole process, measured window)' });
  if (runs.some((run) => run.serverCpu !== null && run.serverCpu !== undefined)) {
    const cpu = (pick: (c: NonNullable<RunReport['serverCpu']>) => string): Cell[] =>
      runs.map((run) => (run.serverCpu === null || run.serverCpu === undefined ? na('server not started by the harness') : plain(pick(run.serverCpu))));
    rows.push({ label: 'µs per datagram', cells: cpu((c) => (isFiniteNumber(c.perDatagramUs) ? formatFixed(c.perDatagramUs, 2) : '–')) });
    if (Object.keys(page.cpuRatios).length > 0) {
      rows.push({
        label: `µs per datagram vs ${page.baseline ?? 'baseline'} (lower is better)`,
        cells: runs.map((run) => {
          const ratio = page.cpuRatios[run.target];
          if (!isFiniteNumber(ratio)) return na();
          return { text: `${formatRatio(ratio)}${run.target === page.baseline ? ' (baseline)' : ''}`, cls: 'ratio' };
        }),
      });
    }
    rows.push({ label: 'CPU seconds', cells: cpu((c) => formatFixed(c.cpuSeconds, 2)) });
    rows.push({ label: 'Cores busy', cells: cpu((c) => formatFixed(c.cores, 2)) });
  } else {
    rows.push({ note: 'not measured: the harness measures the CPU of servers it starts itself (--target, --compare)' });
  }

  rows.push({ group: 'Errors' });
  rows.push({ label: 'Connections refused or failed', cells: runs.map((run) => mustBeZero(run.errors?.connectFailed)) });
  rows.push({ label: 'Connections reset by the server', cells: runs.map((run) => mustBeZero(run.errors?.resets)) });
  rows.push({ label: 'Sends retried (writer full)', cells: runs.map((run) => plain(formatInt(run.errors?.sendRetries))) });

  rows.push({ group: 'Integrity (every echo verified)' });
  if (runs.some((run) => run.integrity !== null && run.integrity !== undefined)) {
    // UDP may lose datagrams: its count is reported, not marked as a fault.
    rows.push({
      label: 'Lost',
      cells: runs.map((run) => (run.settings?.transport === 'udp' && isFiniteNumber(run.integrity?.lost) ? plain(`${formatInt(run.integrity.lost)} (UDP)`) : mustBeZero(run.integrity?.lost))),
    });
    rows.push({ label: 'Duplicated', cells: runs.map((run) => mustBeZero(run.integrity?.duplicated)) });
    rows.push({ label: 'Reordered', cells: runs.map((run) => mustBeZero(run.integrity?.reordered)) });
    rows.push({ label: 'Corrupted', cells: runs.map((run) => mustBeZero(run.integrity?.corrupted)) });
  } else {
    rows.push({ note: `not checked: the ${page.workload} workload does not verify echoes (soak does)` });
  }

  if (runs.some((run) => run.connections !== null && run.connections !== undefined)) {
    const conn = (pick: (run: RunReport) => string): Cell[] =>
      runs.map((run) => (run.connections === null || run.connections === undefined ? na() : plain(pick(run))));
    rows.push({ group: 'Connections' });
    rows.push({ label: 'Requested', cells: conn((run) => formatInt(run.connections!.requested)) });
    rows.push({
      label: 'Held',
      cells: runs.map((run) => {
        const c = run.connections;
        if (c === null || c === undefined) return na();
        return { text: formatInt(c.held), cls: c.held === c.requested ? 'good' : 'bad' };
      }),
    });
    rows.push({ label: 'Opened per second', cells: conn((run) => formatInt(run.connections!.acceptPerSecond)) });
    rows.push({
      label: 'Server memory per connection',
      cells: runs.map((run) => {
        const bytes = run.connections?.serverBytesPerConnection;
        if (run.connections === null || run.connections === undefined) return na();
        return isFiniteNumber(bytes) ? plain(formatBytes(bytes)) : na('unknown');
      }),
    });
  }

  const head = `<tr><th scope="col">Metric</th>${runs
    .map(
      (run, i) =>
        `<th scope="col"><span class="swatch" style="background:${page.colors[i]}"></span>${esc(run.target)}${run.target === page.baseline ? ' <span class="tag">baseline</span>' : ''}</th>`,
    )
    .join('')}</tr>`;
  const body = rows
    .map((row) => {
      if ('group' in row) return `<tr class="group"><th colspan="${runs.length + 1}" scope="colgroup">${esc(row.group)}</th></tr>`;
      if ('note' in row) return `<tr class="note-row"><td colspan="${runs.length + 1}">${esc(row.note)}</td></tr>`;
      const cells = row.cells.map((cell) => `<td${cell.cls ? ` class="${cell.cls}"` : ''}>${esc(cell.text)}</td>`).join('');
      return `<tr><th scope="row">${esc(row.label)}</th>${cells}</tr>`;
    })
    .join('\n');
  return section('Summary', `<div class="table-wrap"><table class="summary${runs.length <= 2 ? ' narrow' : ''}">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`);
}

function comparisonSection(page: PageModel): string {
  // A paced comparison sends the same rate to every target: what differs is the p99.
  const bars = (value: (run: RunReport) => number | null | undefined, ratios: Record<string, number>, unit: Bar['unit']): Bar[] =>
    page.runs.map((run, i) => ({
      name: run.target,
      value: value(run) ?? undefined,
      ratio: ratios[run.target],
      baseline: run.target === page.baseline,
      color: page.colors[i],
      unit,
    }));
  if (Object.keys(page.p99Ratios).length > 0) {
    return section(
      'p99 round trip, by target (lower is better)',
      `${barChart(bars((run) => run.latency?.p99Ms, page.p99Ratios, 'ms'))}\n<p class="note">The ratio divides each target's p99 round trip by the baseline's (${esc(page.baseline ?? '—')}); every target ran the same paced workload on the same machine, one after the other.</p>`,
    );
  }
  return section(
    'Received datagrams per second, by target',
    `${barChart(bars((run) => run.throughput?.receivedPerSecond, page.ratios, 'dg/s'))}\n<p class="note">The ratio divides each target's received datagrams/s by the baseline's (${esc(page.baseline ?? '—')}); every target ran the same workload on the same machine, one after the other.</p>`,
  );
}

function throughputSection(page: PageModel): string {
  const runs = page.runs;
  const points = (run: RunReport, pick: 'sentPerSecond' | 'receivedPerSecond'): [number, number][] =>
    (run.timeline ?? []).filter((p) => isFiniteNumber(p.t) && isFiniteNumber(p[pick])).map((p) => [p.t, p[pick]]);
  const series: Series[] = [];
  if (page.kind === 'run' && runs.length === 1) {
    series.push({ name: 'received/s', color: PALETTE[0], dashed: false, points: points(runs[0], 'receivedPerSecond') });
    series.push({ name: 'sent/s', color: PALETTE[1], dashed: true, points: points(runs[0], 'sentPerSecond') });
  } else {
    runs.forEach((run, i) => {
      series.push({ name: `${run.target} received/s`, color: page.colors[i], dashed: false, points: points(run, 'receivedPerSecond') });
      series.push({ name: `${run.target} sent/s`, color: page.colors[i], dashed: true, points: points(run, 'sentPerSecond') });
    });
  }
  if (series.every((s) => s.points.length === 0)) {
    return section('Throughput over time', '<p class="note">No per-second samples in this report.</p>');
  }
  const chart = lineChart({
    label: 'Datagrams sent and received per second over the measured window',
    x: linearAxis(series, 0, 'seconds into the measured window', (v) => formatCompact(v)),
    y: linearAxis(series, 1, 'datagrams per second', (v) => formatCompact(v)),
    series,
  });
  const legendItems =
    page.kind === 'run' && runs.length === 1
      ? legend(series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })))
      : legend([
          ...runs.map((run, i) => ({ name: run.target, color: page.colors[i], dashed: false })),
          { name: 'received/s (solid)', color: '#555', dashed: false },
          { name: 'sent/s (dashed)', color: '#555', dashed: true },
        ]);
  return section('Throughput over time', `${chart}\n${legendItems}`);
}

function latencySection(page: PageModel): string {
  const measured = page.runs.map((run, i) => ({ run, color: page.colors[i] })).filter(({ run }) => run.latency !== null && run.latency !== undefined);
  if (measured.length === 0) {
    return section(
      'Latency',
      `<p class="note">No round-trip latency was measured in this ${esc(page.workload)} run: the latency and soak workloads measure it.</p>`,
    );
  }
  const maxNines = ninesRange(measured.map(({ run }) => run));
  const curves: Series[] = measured.map(({ run, color }) => ({
    name: run.target,
    color,
    dashed: false,
    points: (run.latency!.curve ?? [])
      .filter((p) => isFiniteNumber(p.percentile) && isFiniteNumber(p.ms))
      .map((p): [number, number] => [Math.min(nines(p.percentile), maxNines), p.ms]),
  }));
  const marks: Mark[] = [];
  for (const { run, color } of measured) {
    const l = run.latency!;
    for (const [percentile, value] of [
      [50, l.p50Ms],
      [90, l.p90Ms],
      [99, l.p99Ms],
      [99.9, l.p999Ms],
    ] as const) {
      if (isFiniteNumber(value) && nines(percentile) <= maxNines) {
        marks.push({ x: nines(percentile), y: value, color, title: `${run.target}: p${percentile} = ${formatMs(value)} ms` });
      }
    }
  }
  const xTicks: Tick[] = [{ value: 0, label: '0%' }, { value: nines(50), label: '50%', minor: true }];
  for (let n = 1; n <= maxNines; n++) xTicks.push({ value: n, label: `${percentileLabel(n)}%` });
  const allY = curves.flatMap((s) => s.points.map((p) => p[1])).concat(marks.map((m) => m.y));
  const maxY = Math.max(0, ...allY);
  const medians = measured.map(({ run }) => run.latency!.p50Ms).filter((v): v is number => isFiniteNumber(v) && v > 0);
  // A tail a hundred times the median flattens the body of a linear plot: go logarithmic.
  const logScale = medians.length > 0 && maxY / Math.min(...medians) > 30;
  const curveChart = lineChart({
    label: 'Latency by percentile',
    x: { min: 0, max: maxNines, ticks: xTicks, title: 'percentile (log scale of nines)' },
    y: logScale
      ? logAxis(Math.min(...allY.filter((v) => v > 0)), maxY, 'round-trip time (ms, log scale)', (v) => formatMsTick(v))
      : niceAxis(0, maxY, 'round-trip time (ms)', (v) => formatMsTick(v)),
    series: curves,
    marks,
  });
  const parts = [
    '<h3>Percentile curve</h3>',
    curveChart,
    legend(measured.map(({ run, color }) => ({ name: run.target, color, dashed: false }))),
    '<p class="note">Round-trip times from each datagram\'s intended send time, so a stall of the server counts fully (coordinated omission corrected). Dots mark p50, p90, p99 and p99.9.</p>',
  ];

  const p99Series: Series[] = measured.map(({ run, color }) => ({
    name: run.target,
    color,
    dashed: false,
    points: (run.timeline ?? [])
      .filter((p) => isFiniteNumber(p.t))
      .map((p): [number, number] => [p.t, isFiniteNumber(p.p99Ms) ? p.p99Ms : Number.NaN]),
  }));
  if (p99Series.some((s) => s.points.some((p) => Number.isFinite(p[1])))) {
    parts.push(
      '<h3>p99 of each second</h3>',
      lineChart({
        label: 'p99 round-trip time of each second',
        x: linearAxis(p99Series, 0, 'seconds into the measured window', (v) => formatCompact(v)),
        y: linearAxis(p99Series, 1, 'p99 (ms)', (v) => formatMsTick(v)),
        series: p99Series,
        height: 240,
      }),
      legend(measured.map(({ run, color }) => ({ name: run.target, color, dashed: false }))),
    );
  }
  return section('Latency', parts.join('\n'));
}

function footer(): string {
  return '<footer>Made by ringwire-bench. Counts that must be zero are green at zero and red otherwise; "not checked" means the workload does not verify them (only soak does).</footer>';
}

// ── charts ──────────────────────────────────────────────────────────────────

interface Bar {
  name: string;
  value: number | undefined;
  ratio: number | undefined;
  baseline: boolean;
  color: string;
  /** What the value is: datagrams per second, or a round trip in ms. */
  unit: 'dg/s' | 'ms';
}

function barChart(bars: Bar[]): string {
  const rowH = 38;
  const labelW = 200;
  const valueW = 250;
  const top = 10;
  const bottom = 10;
  const height = top + bottom + rowH * bars.length;
  const plotW = CHART_WIDTH - labelW - valueW;
  const max = Math.max(0, ...bars.map((bar) => (isFiniteNumber(bar.value) ? bar.value : 0)));
  const out: string[] = [
    `<svg class="chart bars" viewBox="0 0 ${CHART_WIDTH} ${height}" role="img" aria-label="Received datagrams per second by target"><title>Received datagrams per second by target</title>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + i * rowH;
    const value = isFiniteNumber(bar.value) ? bar.value : 0;
    const w = max > 0 ? Math.max(1, (value / max) * plotW) : 1;
    const name = bar.name.length > 22 ? `${bar.name.slice(0, 21)}…` : bar.name;
    const ratio = isFiniteNumber(bar.ratio) ? formatRatio(bar.ratio) : '—';
    const amount = bar.unit === 'ms' ? `${formatMs(bar.value)} ms` : `${formatInt(bar.value)} dg/s`;
    const label = `${amount} · ${ratio}${bar.baseline ? ' (baseline)' : ''}`;
    out.push(`<g><title>${esc(`${bar.name}: ${label}`)}</title>`);
    out.push(`<text x="${labelW - 10}" y="${y + rowH / 2}" class="bar-label${bar.baseline ? ' strong' : ''}" text-anchor="end" dominant-baseline="middle">${esc(name)}</text>`);
    out.push(`<rect x="${labelW}" y="${y + 7}" width="${coord(w)}" height="${rowH - 14}" rx="3" fill="${bar.color}"${bar.baseline ? ' stroke="#111" stroke-width="1.5"' : ''}/>`);
    out.push(`<text x="${coord(labelW + w + 8)}" y="${y + rowH / 2}" class="bar-value${bar.baseline ? ' strong' : ''}" dominant-baseline="middle">${esc(label)}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}

/** How many nines the x axis shows: enough for the deepest finite percentile, 2 to 6. */
function ninesRange(runs: RunReport[]): number {
  let deepest = 0;
  for (const run of runs) {
    for (const p of run.latency?.curve ?? []) {
      if (isFiniteNumber(p.percentile) && p.percentile < 100) deepest = Math.max(deepest, nines(p.percentile));
    }
    if (isFiniteNumber(run.latency?.count) && run.latency!.count > 1) deepest = Math.max(deepest, Math.log10(run.latency!.count) - 0.01);
  }
  return Math.min(6, Math.max(2, Math.ceil(deepest - 1e-9)));
}

// ── formatting ──────────────────────────────────────────────────────────────

function headerSizeText(size: number): string {
  if (size === 0) return '0 (raw: no length header)';
  if (size === 2) return '2 bytes (u16, Panda3D default)';
  if (size === 4) return '4 bytes (u32)';
  return String(size);
}

function transportText(transport: string): string {
  if (transport === 'udp') return 'UDP (Panda3D packets: checksum header, then the payload)';
  return transport === 'ws' ? 'WebSocket (binary messages)' : transport === 'tcp' ? 'TCP (Panda3D framing)' : String(transport);
}

