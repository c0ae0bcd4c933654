/**
 * The pieces every page of the harness shares (html-report.ts, scenario/scenario-html.ts):
 * escaping, number and date formatting that never prints NaN, a section, and the page's
 * CSS. Self-contained pages: nothing here refers to a URL.
 */

/** Escapes text for HTML content and attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A panel with its title. */
export function section(title: string, body: string): string {
  return `<section>\n<h2>${esc(title)}</h2>\n${body}\n</section>`;
}

/** True for a number that is not NaN or ±Infinity. */
export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function formatInt(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  const rounded = Math.round(value);
  return (rounded < 0 ? '-' : '') + group(String(Math.abs(rounded)));
}

export function formatFixed(value: number | null | undefined, digits: number): string {
  if (!isFiniteNumber(value)) return '—';
  const [whole, fraction] = Math.abs(value).toFixed(digits).split('.');
  return (value < 0 ? '-' : '') + group(whole) + (fraction === undefined ? '' : `.${fraction}`);
}

/** Up to two decimals, trailing zeros dropped: 10 → "10", 2.5 → "2.5". */
export function formatNumber(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  return String(Math.round(value * 100) / 100);
}

/** Milliseconds with about three significant digits: 0.412, 4.12, 41.2, 412, 4,120. */
export function formatMs(value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return '—';
  const abs = Math.abs(value);
  return formatFixed(value, abs < 1 ? 3 : abs < 10 ? 2 : abs < 100 ? 1 : 0);
}

export function formatMsTick(value: number): string {
  return Math.abs(value) >= 1000 ? formatInt(value) : String(cleanFloat(value));
}

/** Axis labels: 950, 1.2k, 3.5M. */
export function formatCompact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${cleanFloat(value / 1e9)}G`;
  if (abs >= 1e6) return `${cleanFloat(value / 1e6)}M`;
  if (abs >= 1e3) return `${cleanFloat(value / 1e3)}k`;
  return String(cleanFloat(value));
}

export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}

export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${formatFixed(bytes / (1024 * 1024), 1)} MiB`;
  if (abs >= 1024) return `${formatFixed(bytes / 1024, 1)} KiB`;
  return `${formatInt(bytes)} B`;
}

/** An ISO date as "2025-06-01 14:03:22 UTC"; anything else as it is. */
export function formatDate(value: unknown): string {
  const text = String(value ?? '');
  const date = new Date(text);
  if (text === '' || Number.isNaN(date.getTime())) return text || '—';
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Drops floating-point noise: 0.30000000000000004 → 0.3. */
export function cleanFloat(v: number): number {
  return Number.parseFloat(v.toPrecision(12));
}

export const PAGE_CSS = `
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
.note { color: var(--muted); margin: 8px 0 0; }
.failures { margin-top: 12px; padding: 10px 14px; border: 1px solid #f3b7b1; background: var(--bad-bg); color: var(--bad); border-radius: 6px; }
.failures ul { margin: 4px 0 0; padding-left: 20px; }
footer { color: var(--muted); font-size: 12px; margin-top: 18px; }
`;
