/**
 * The README's picture of examples/grafana/ringwire-dashboard.json, made from a real run
 * (no Grafana here: the same queries, drawn by the harness's own SVG charts).
 *
 *   npm run bench:dashboard -- [--out examples/grafana/ringwire-dashboard.png] [--stages 20s:200,30s:200,20s:500,20s:500,10s:0]
 *
 * It starts the arena's ringwire server (2 shards, --metrics-port), a real Prometheus
 * (Debian's `prometheus`) scraping the server and the harness every second, and the
 * harness with bench/harness/scenarios/arena-bots.ts ramped through --stages (its
 * --metrics-port). When the run ends it asks Prometheus each panel's queries over the run
 * (query_range, a 2 s step, Grafana's $__rate_interval as 5s), draws the panels in the
 * dashboard's grid, and saves a PNG of the page with headless Chromium.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CHART_CSS, lineChart, legend, PALETTE, type Axis, type Series } from './harness/output/svg-chart.js';
import { screenshot } from './harness/screenshot.js';
import { freePort, startPrometheus, stopPrometheus } from '../test/helpers/prometheus.js';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(ROOT, 'examples/grafana/ringwire-dashboard.png') },
    stages: { type: 'string', default: '20s:200,30s:200,20s:500,20s:500,10s:0' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('*/')[0]
      .replace(/^\/\*\*?|^ \* ?/gm, ''),
  );
  process.exit(0);
}

interface Target {
  expr: string;
  legendFormat?: string;
}
interface Panel {
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string } };
}

const children: ChildProcess[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'ringwire-dashboard-'));

/** Starts `command`; resolves the first capture of `pattern` in its stdout. */
function start(command: string, args: string[], pattern: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let found = false;
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (!found && match !== null) {
        found = true;
        resolvePromise({ child, match });
      }
    });
    child.once('exit', (code) => {
      if (!found) reject(new Error(`${args.join(' ')} exited (${code}) before printing ${pattern}`));
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolvePromise) => child.once('exit', (code) => resolvePromise(code)));
}

async function main(): Promise<void> {
  const serverMetrics = await freePort();
  const benchMetrics = await freePort();
  const server = await start(
    process.execPath,
    [
      '--import',
      'tsx',
      'examples/arena/arena-ringwire-server.ts',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--shards',
      '2',
      '--metrics-port',
      String(serverMetrics),
    ],
    /^arena server \(.* on 127\.0\.0\.1:(\d+)\)/,
  );
  const gamePort = server.match[1];
  const prometheus = await startPrometheus([`127.0.0.1:${serverMetrics}`, `127.0.0.1:${benchMetrics}`]);
  const begin = Date.now() / 1000;
  const bench = spawn(
    process.execPath,
    [
      'bench/harness/dist/cli.js',
      'run',
      'bench/harness/scenarios/arena-bots.ts',
      '--host',
      '127.0.0.1',
      '--port',
      gamePort,
      '--stages',
      values.stages,
      '--warmup',
      '0',
      '--metrics-port',
      String(benchMetrics),
      '--quiet',
    ],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.push(bench);
  const benchExit = await exited(bench);
  // 99: a threshold failed (the run itself went through; the picture shows it).
  if (benchExit !== 0 && benchExit !== 99) throw new Error(`the harness exited ${benchExit}: no picture`);
  // Two more scrapes of the server after the bots have gone.
  await new Promise((resolvePromise) => setTimeout(resolvePromise, 3000));
  const end = Date.now() / 1000;
  server.child.kill('SIGTERM');
  await exited(server.child);

  const dashboard = JSON.parse(readFileSync(join(ROOT, 'examples/grafana/ringwire-dashboard.json'), 'utf8')) as { title: string; panels: Panel[] };
  const sections: string[] = [];
  let row: string[] = [];
  let rowY = -1;
  const flush = (): void => {
    if (row.length > 0) sections.push(`<div class="row">${row.join('')}</div>`);
    row = [];
  };
  for (const panel of dashboard.panels) {
    if (panel.type === 'row') {
      flush();
      sections.push(`<h2>${panel.title}</h2>`);
      continue;
    }
    // Panels side by side as the dashboard's grid puts them (one line per gridPos.y).
    if (panel.gridPos.y !== rowY) {
      flush();
      rowY = panel.gridPos.y;
    }
    const series: Series[] = [];
    for (const target of panel.targets ?? []) {
      const query = target.expr.replaceAll('$__rate_interval', '5s');
      const url = `http://127.0.0.1:${prometheus.port}/api/v1/query_range?query=${encodeURIComponent(query)}&start=${begin}&end=${end}&step=2`;
      const body = (await (await fetch(url)).json()) as {
        status: string;
        error?: string;
        data: { result: { metric: Record<string, string>; values: [number, string][] }[] };
      };
      if (body.status !== 'success') throw new Error(`${panel.title}: ${query}: ${body.error}`);
      for (const result of body.data.result) {
        const name = (target.legendFormat ?? query)
          .replace(/\{\{(\w+)\}\}/g, (_, label: string) => result.metric[label] ?? '')
          .replace(/\s+/g, ' ')
          .trim();
        series.push({
          name: name === '' ? query : name,
          color: PALETTE[series.length % PALETTE.length],
          dashed: false,
          points: result.values.map(([t, v]) => [t - begin, Number(v)]),
        });
      }
    }
    row.push(panelHtml(panel, series, end - begin));
  }
  flush();
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${dashboard.title}</title><style>${CHART_CSS}${PAGE_CSS}</style></head><body>
<h1>${dashboard.title}</h1>
<p class="note">examples/grafana/ringwire-dashboard.json's queries over a real run, drawn without Grafana: the arena's ringwire server (2 shards) under bench/harness/scenarios/arena-bots.ts, stages ${values.stages}; Prometheus scraping both every second; x: seconds into the run.</p>
${sections.join('\n')}
</body></html>`;
  const page = join(tmp, 'dashboard.html');
  writeFileSync(page, html);
  await screenshot(page, values.out, 1540);
  console.log(`wrote ${values.out}`);
  await prometheus.stop();
}

const PAGE_CSS = `
body { font: 13px system-ui, sans-serif; margin: 12px; background: #fff; color: #222; width: 1500px; }
h1 { font-size: 18px; margin: 4px 0; } h2 { font-size: 15px; margin: 14px 0 4px; border-bottom: 1px solid #ccc; }
.note { color: #555; margin: 0 0 8px; }
.row { display: flex; gap: 10px; }
.panel { flex: 1; border: 1px solid #ddd; border-radius: 4px; padding: 4px 6px; min-width: 0; }
.panel h3 { font-size: 13px; margin: 2px 0; }
.panel svg { width: 100%; height: auto; }
`;

function panelHtml(panel: Panel, series: Series[], seconds: number): string {
  const unit = panel.fieldConfig?.defaults?.unit ?? '';
  const finite = series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  const top = Math.max(...finite, 0);
  const y = niceAxis(top, unit);
  const xTicks = ticks(seconds, (v) => `${v}`);
  const x: Axis = { min: 0, max: xTicks.at(-1)!.value, ticks: xTicks, title: 's' };
  const chart =
    series.length === 0 ? '<p class="note">no data in this run</p>' : lineChart({ label: panel.title, x, y, series, width: 480, height: 250 });
  return `<div class="panel"><h3>${panel.title}</h3>${chart}${legend(
    series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })),
    480,
  )}</div>`;
}

/** Five or so round ticks from 0 to `max`. */
function ticks(max: number, label: (v: number) => string): { value: number; label: string }[] {
  const raw = max / 5 || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const out = [];
  // Up to the first tick at or past max, so the axis holds every value.
  for (let v = 0; ; v += step) {
    out.push({ value: v, label: label(Number(v.toPrecision(6))) });
    if (v >= max - step * 1e-9) break;
  }
  return out;
}

function niceAxis(top: number, unit: string): Axis {
  const max = top > 0 ? top * 1.05 : 1;
  const format = (v: number): string => {
    if (unit === 'percentunit') return v === 0 ? '0%' : `${Number((v * 100).toPrecision(2))}%`;
    if (unit === 's') return v === 0 ? '0' : v < 0.001 ? `${Math.round(v * 1e6)} µs` : v < 1 ? `${Number((v * 1000).toPrecision(3))} ms` : `${v} s`;
    if (unit === 'bytes' || unit === 'Bps')
      return v >= 1e6 ? `${Number((v / 1e6).toPrecision(3))} MB` : v >= 1e3 ? `${Number((v / 1e3).toPrecision(3))} kB` : `${v} B`;
    return v >= 1e6 ? `${Number((v / 1e6).toPrecision(3))}M` : v >= 1e3 ? `${Number((v / 1e3).toPrecision(3))}k` : `${v}`;
  };
  const axisTicks = ticks(max, format);
  return { min: 0, max: axisTicks.at(-1)!.value, ticks: axisTicks, title: unit === 'Bps' ? 'bytes/s' : unit === 'ops' ? '/s' : '' };
}

try {
  await main();
} finally {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await stopPrometheus();
  rmSync(tmp, { recursive: true, force: true });
}
