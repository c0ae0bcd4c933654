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
    `<style>${CSS}</style>`,
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

/** Okabe–Ito-like colors that stay apart for color-blind readers; cycled past eight runs. */
const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#7f7f7f', '#000000'];

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
    rows.push(['Transport', transportText(s.transport)]);
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
    rows.push({ label: 'Transport', cells: runs.map((run) => plain(run.settings.transport === 'ws' ? 'WebSocket' : String(run.settings.transport).toUpperCase())) });
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

function section(title: string, body: string): string {
  return `<section>\n<h2>${esc(title)}</h2>\n${body}\n</section>`;
}

function legend(items: { name: string; color: string; dashed: boolean }[]): string {
  const spans = items
    .map((item) => `<span class="key"><span class="line${item.dashed ? ' dashed' : ''}" style="border-color:${item.color}"></span>${esc(item.name)}</span>`)
    .join('');
  return `<div class="legend">${spans}</div>`;
}

// ── charts ──────────────────────────────────────────────────────────────────

interface Series {
  name: string;
  color: string;
  dashed: boolean;
  /** [x, y]; a non-finite y breaks the line. */
  points: [number, number][];
}

interface Tick {
  value: number;
  label: string;
  /** A lighter grid line. */
  minor?: boolean;
}

interface Axis {
  min: number;
  max: number;
  ticks: Tick[];
  title: string;
  /** A log10 scale (min > 0); values below min are drawn at min. */
  log?: boolean;
}

/** A dot with a tooltip. */
interface Mark {
  x: number;
  y: number;
  color: string;
  title: string;
}

const CHART_WIDTH = 960;
const MARGIN = { top: 14, right: 40, bottom: 52, left: 84 };

function lineChart(options: { label: string; x: Axis; y: Axis; series: Series[]; marks?: Mark[]; height?: number }): string {
  const { x, y } = options;
  const height = options.height ?? 320;
  const plotW = CHART_WIDTH - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const sx = (v: number): number => MARGIN.left + (x.max === x.min ? 0 : ((v - x.min) / (x.max - x.min)) * plotW);
  const sy = y.log
    ? (v: number): number =>
        MARGIN.top + plotH - ((Math.log10(Math.max(v, y.min)) - Math.log10(y.min)) / (Math.log10(y.max) - Math.log10(y.min))) * plotH
    : (v: number): number => MARGIN.top + plotH - (y.max === y.min ? 0 : ((v - y.min) / (y.max - y.min)) * plotH);
  const out: string[] = [];
  out.push(
    `<svg class="chart" viewBox="0 0 ${CHART_WIDTH} ${height}" role="img" aria-label="${esc(options.label)}"><title>${esc(options.label)}</title>`,
  );
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" class="plot"/>`);
  for (const tick of y.ticks) {
    const py = n(sy(tick.value));
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py}" y2="${py}" class="${tick.minor ? 'grid minor' : 'grid'}"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${py}" class="tick" text-anchor="end" dominant-baseline="middle">${esc(tick.label)}</text>`);
  }
  for (const tick of x.ticks) {
    const px = n(sx(tick.value));
    out.push(`<line x1="${px}" x2="${px}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" class="${tick.minor ? 'grid minor' : 'grid'}"/>`);
    out.push(`<text x="${px}" y="${MARGIN.top + plotH + 18}" class="tick" text-anchor="middle">${esc(tick.label)}</text>`);
  }
  out.push(`<text x="${n(MARGIN.left + plotW / 2)}" y="${height - 10}" class="axis-title" text-anchor="middle">${esc(x.title)}</text>`);
  out.push(
    `<text transform="translate(18 ${n(MARGIN.top + plotH / 2)}) rotate(-90)" class="axis-title" text-anchor="middle">${esc(y.title)}</text>`,
  );
  for (const s of options.series) {
    for (const segment of segments(s.points)) {
      if (segment.length === 1) {
        out.push(`<circle cx="${n(sx(segment[0][0]))}" cy="${n(sy(segment[0][1]))}" r="3" fill="${s.color}"><title>${esc(s.name)}</title></circle>`);
        continue;
      }
      const d = segment.map(([px, py]) => `${n(sx(px))},${n(sy(py))}`).join(' ');
      out.push(
        `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="${s.dashed ? 1.6 : 2.2}"${s.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-linejoin="round" stroke-linecap="round"><title>${esc(s.name)}</title></polyline>`,
      );
    }
  }
  for (const mark of options.marks ?? []) {
    out.push(
      `<circle cx="${n(sx(mark.x))}" cy="${n(sy(mark.y))}" r="3.5" fill="#fff" stroke="${mark.color}" stroke-width="2"><title>${esc(mark.title)}</title></circle>`,
    );
  }
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" class="axis"/>`);
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" class="axis"/>`);
  out.push('</svg>');
  return out.join('\n');
}

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
    out.push(`<rect x="${labelW}" y="${y + 7}" width="${n(w)}" height="${rowH - 14}" rx="3" fill="${bar.color}"${bar.baseline ? ' stroke="#111" stroke-width="1.5"' : ''}/>`);
    out.push(`<text x="${n(labelW + w + 8)}" y="${y + rowH / 2}" class="bar-value${bar.baseline ? ' strong' : ''}" dominant-baseline="middle">${esc(label)}</text>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Splits a series where y is not finite. */
function segments(points: [number, number][]): [number, number][][] {
  const out: [number, number][][] = [];
  let current: [number, number][] = [];
  for (const p of points) {
    if (Number.isFinite(p[0]) && Number.isFinite(p[1])) {
      current.push(p);
    } else if (current.length > 0) {
      out.push(current);
      current = [];
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** An axis from 0 (or the data's minimum, if negative) to a round number above the data. */
function linearAxis(series: Series[], index: 0 | 1, title: string, format: (v: number) => string): Axis {
  const values = series.flatMap((s) => s.points.map((p) => p[index])).filter(Number.isFinite);
  return niceAxis(Math.min(0, ...values), Math.max(0, ...values), title, format);
}

function niceAxis(min: number, max: number, title: string, format: (v: number) => string): Axis {
  if (!(max > min)) max = min + 1;
  const step = niceStep((max - min) / 5);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: Tick[] = [];
  for (let i = 0, v = lo; v <= hi + step / 2 && i < 50; i++, v = lo + i * step) ticks.push({ value: v, label: format(cleanFloat(v)) });
  return { min: lo, max: hi, ticks, title };
}

/**
 * A log10 axis ticked at 1-2-5 values (1-3, or only powers of ten, for wide ranges),
 * from the tick at or below `min` (> 0) to the tick at or above `max`.
 */
function logAxis(min: number, max: number, title: string, format: (v: number) => string): Axis {
  const decades = Math.log10(Math.max(max, min * 10) / min);
  // Fewer ticks as the range grows, so labels never crowd.
  const steps = decades <= 2.5 ? [1, 2, 5] : decades <= 4.5 ? [1, 3] : [1];
  const ticks: Tick[] = [];
  let decade = 10 ** Math.floor(Math.log10(min));
  for (let guard = 0; guard < 40; guard++, decade *= 10) {
    for (const step of steps) {
      const value = cleanFloat(decade * step);
      if (ticks.length > 0 && ticks[ticks.length - 1].value >= max * 0.9999) break;
      // Keep only the last value at or below min as the first tick.
      if (value <= min * 1.0001) ticks.length = 0;
      ticks.push({ value, label: format(value), minor: step !== 1 });
    }
    if (ticks[ticks.length - 1].value >= max * 0.9999) break;
  }
  if (ticks.length === 1) ticks.push({ value: cleanFloat(ticks[0].value * 10), label: format(cleanFloat(ticks[0].value * 10)) });
  return { min: ticks[0].value, max: ticks[ticks.length - 1].value, ticks, title, log: true };
}

function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 2.5 ? 2.5 : fraction <= 5 ? 5 : 10) * power;
}

function cleanFloat(v: number): number {
  return Number.parseFloat(v.toPrecision(12));
}

/** The "nines" of a percentile: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3 (HdrHistogram's plots). */
function nines(percentile: number): number {
  if (percentile >= 100) return Infinity;
  if (percentile <= 0) return 0;
  return -Math.log10(1 - percentile / 100);
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

/** 1 → "90", 2 → "99", 3 → "99.9". */
function percentileLabel(ninesCount: number): string {
  return ninesCount <= 2 ? String(100 - 10 ** (2 - ninesCount)) : `99.${'9'.repeat(ninesCount - 2)}`;
}

// ── formatting ──────────────────────────────────────────────────────────────

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Rounds an SVG coordinate. */
function n(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0';
}

function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function formatInt(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  const rounded = Math.round(value);
  return (rounded < 0 ? '-' : '') + group(String(Math.abs(rounded)));
}

function formatFixed(value: number | null | undefined, digits: number): string {
  if (!isFiniteNumber(value)) return '—';
  const [whole, fraction] = Math.abs(value).toFixed(digits).split('.');
  return (value < 0 ? '-' : '') + group(whole) + (fraction === undefined ? '' : `.${fraction}`);
}

/** Up to two decimals, trailing zeros dropped: 10 → "10", 2.5 → "2.5". */
function formatNumber(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  return String(Math.round(value * 100) / 100);
}

/** Milliseconds with about three significant digits: 0.412, 4.12, 41.2, 412, 4,120. */
function formatMs(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  const abs = Math.abs(value);
  return formatFixed(value, abs < 1 ? 3 : abs < 10 ? 2 : abs < 100 ? 1 : 0);
}

function formatMsTick(value: number): string {
  return Math.abs(value) >= 1000 ? formatInt(value) : String(cleanFloat(value));
}

/** Axis labels: 950, 1.2k, 3.5M. */
function formatCompact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${cleanFloat(value / 1e9)}G`;
  if (abs >= 1e6) return `${cleanFloat(value / 1e6)}M`;
  if (abs >= 1e3) return `${cleanFloat(value / 1e3)}k`;
  return String(cleanFloat(value));
}

function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${formatFixed(bytes / (1024 * 1024), 1)} MiB`;
  if (abs >= 1024) return `${formatFixed(bytes / 1024, 1)} KiB`;
  return `${formatInt(bytes)} B`;
}

/** An ISO date as "2025-06-01 14:03:22 UTC"; anything else as it is. */
function formatDate(value: unknown): string {
  const text = String(value ?? '');
  const date = new Date(text);
  if (text === '' || Number.isNaN(date.getTime())) return text || '—';
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

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

/** Escapes text for HTML content and attribute values. */
function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// ── style ───────────────────────────────────────────────────────────────────

const CSS = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #5b6470; --line: #d9dee4; --panel: #ffffff; --bg: #f4f6f8;
  --good: #11703a; --good-bg: #e3f5ea; --bad: #b42318; --bad-bg: #fde8e6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 40px; }
header h1 { font-size: 24px; margin: 0 0 6px; font-weight: 650; }
header .workload { color: #0072b2; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 0; color: var(--muted); }
.meta b { color: var(--ink); font-weight: 600; margin-right: 4px; }
.target { display: inline-flex; align-items: center; margin-right: 10px; color: var(--ink); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: baseline; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px 18px; margin-top: 18px; }
h2 { font-size: 17px; margin: 0 0 12px; font-weight: 650; }
h3 { font-size: 14px; margin: 14px 0 6px; font-weight: 600; color: var(--muted); }
h2 + h3 { margin-top: 0; }
.settings { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px 18px; margin: 0; }
.settings div { border-left: 3px solid var(--line); padding-left: 10px; }
.settings dt { color: var(--muted); font-size: 12px; }
.settings dd { margin: 0; font-weight: 550; }
.table-wrap { overflow-x: auto; }
table.summary { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.summary th, .summary td { padding: 5px 10px; border-bottom: 1px solid #eceff2; text-align: right; white-space: nowrap; }
.summary thead th { border-bottom: 2px solid var(--line); font-weight: 650; }
.summary th[scope="row"], .summary thead th:first-child { text-align: left; font-weight: 500; color: var(--muted); }
.summary tr.group th { text-align: left; background: #f7f9fb; color: var(--ink); font-weight: 650; padding-top: 9px; }
.summary td.good { color: var(--good); background: var(--good-bg); font-weight: 600; }
.summary td.bad { color: var(--bad); background: var(--bad-bg); font-weight: 700; }
.summary td.na { color: #98a1ab; }
.summary td.ratio { font-weight: 600; }
.summary tr.note-row td { text-align: left; color: #98a1ab; font-style: italic; }
table.summary.narrow { width: auto; min-width: 560px; }
.summary thead th { white-space: normal; overflow-wrap: anywhere; max-width: 12em; vertical-align: bottom; }
.tag { font-size: 11px; font-weight: 600; color: var(--muted); border: 1px solid var(--line); border-radius: 8px; padding: 0 6px; margin-left: 4px; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart .plot { fill: #fcfdfe; stroke: none; }
svg.chart .grid { stroke: #e3e7ec; stroke-width: 1; }
svg.chart .grid.minor { stroke-dasharray: 3 4; }
svg.chart .axis { stroke: #8a939d; stroke-width: 1; }
svg.chart text { fill: #3d4550; font-size: 13px; font-family: inherit; }
svg.chart .tick { font-variant-numeric: tabular-nums; }
svg.chart .axis-title { fill: var(--muted); font-size: 13px; }
svg.chart .bar-label { font-size: 14px; }
svg.chart .bar-value { font-size: 13px; font-variant-numeric: tabular-nums; }
svg.chart .strong { font-weight: 700; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 20px; margin: 8px 0 0 ${MARGIN.left * (100 / CHART_WIDTH)}%; color: var(--ink); }
.key { display: inline-flex; align-items: center; }
.key .line { display: inline-block; width: 26px; border-top: 3px solid; margin-right: 7px; }
.key .line.dashed { border-top-style: dashed; }
.note { color: var(--muted); margin: 8px 0 0; }
.failures { margin-top: 12px; padding: 10px 14px; border: 1px solid #f3b7b1; background: var(--bad-bg); color: var(--bad); border-radius: 6px; }
.failures ul { margin: 4px 0 0; padding-left: 20px; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
`;
