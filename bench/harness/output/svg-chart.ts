/**
 * Line charts as inline SVG, drawn here: linear, log10 and HdrHistogram's "nines" axes
 * (a percentile curve's x axis), series that break where a value is missing, dots with
 * tooltips, and a legend. Used by the harness's HTML pages; CHART_CSS styles them.
 */
import { cleanFloat, esc } from './html-page.js';

/** Okabe–Ito-like colors that stay apart for color-blind readers; cycled past eight runs. */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#7f7f7f', '#000000'];

export interface Series {
  name: string;
  color: string;
  dashed: boolean;
  /** [x, y]; a non-finite y breaks the line. */
  points: [number, number][];
}

export interface Tick {
  value: number;
  label: string;
  /** A lighter grid line. */
  minor?: boolean;
}

export interface Axis {
  min: number;
  max: number;
  ticks: Tick[];
  title: string;
  /** A log10 scale (min > 0); values below min are drawn at min. */
  log?: boolean;
}

/** A dot with a tooltip. */
export interface Mark {
  x: number;
  y: number;
  color: string;
  title: string;
}

/** A chart's width in SVG units; it is scaled to its panel's width. */
export const CHART_WIDTH = 960;

/** Room around the plot for the axes' ticks and titles. */
export const MARGIN = { top: 14, right: 40, bottom: 52, left: 84 };

/**
 * A line chart: `series` over the axes `x` and `y`, with `marks` on top; `width` (default
 * CHART_WIDTH) and `height` (default 320) in SVG units, text at the same size whatever the
 * width, so a narrower chart suits a narrower panel.
 */
export function lineChart(options: { label: string; x: Axis; y: Axis; series: Series[]; marks?: Mark[]; width?: number; height?: number }): string {
  const { x, y } = options;
  const width = options.width ?? CHART_WIDTH;
  const height = options.height ?? 320;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const sx = (v: number): number => MARGIN.left + (x.max === x.min ? 0 : ((v - x.min) / (x.max - x.min)) * plotW);
  const sy = y.log
    ? (v: number): number =>
        MARGIN.top + plotH - ((Math.log10(Math.max(v, y.min)) - Math.log10(y.min)) / (Math.log10(y.max) - Math.log10(y.min))) * plotH
    : (v: number): number => MARGIN.top + plotH - (y.max === y.min ? 0 : ((v - y.min) / (y.max - y.min)) * plotH);
  const out: string[] = [];
  out.push(
    `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(options.label)}"><title>${esc(options.label)}</title>`,
  );
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" class="plot"/>`);
  for (const tick of y.ticks) {
    const py = coord(sy(tick.value));
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py}" y2="${py}" class="${tick.minor ? 'grid minor' : 'grid'}"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${py}" class="tick" text-anchor="end" dominant-baseline="middle">${esc(tick.label)}</text>`);
  }
  for (const tick of x.ticks) {
    const px = coord(sx(tick.value));
    out.push(`<line x1="${px}" x2="${px}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" class="${tick.minor ? 'grid minor' : 'grid'}"/>`);
    out.push(`<text x="${px}" y="${MARGIN.top + plotH + 18}" class="tick" text-anchor="middle">${esc(tick.label)}</text>`);
  }
  out.push(`<text x="${coord(MARGIN.left + plotW / 2)}" y="${height - 10}" class="axis-title" text-anchor="middle">${esc(x.title)}</text>`);
  out.push(
    `<text transform="translate(18 ${coord(MARGIN.top + plotH / 2)}) rotate(-90)" class="axis-title" text-anchor="middle">${esc(y.title)}</text>`,
  );
  for (const s of options.series) {
    for (const segment of segments(s.points)) {
      if (segment.length === 1) {
        out.push(`<circle cx="${coord(sx(segment[0][0]))}" cy="${coord(sy(segment[0][1]))}" r="3" fill="${s.color}"><title>${esc(s.name)}</title></circle>`);
        continue;
      }
      const d = segment.map(([px, py]) => `${coord(sx(px))},${coord(sy(py))}`).join(' ');
      out.push(
        `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="${s.dashed ? 1.6 : 2.2}"${s.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-linejoin="round" stroke-linecap="round"><title>${esc(s.name)}</title></polyline>`,
      );
    }
  }
  for (const mark of options.marks ?? []) {
    out.push(
      `<circle cx="${coord(sx(mark.x))}" cy="${coord(sy(mark.y))}" r="3.5" fill="#fff" stroke="${mark.color}" stroke-width="2"><title>${esc(mark.title)}</title></circle>`,
    );
  }
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" class="axis"/>`);
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" class="axis"/>`);
  out.push('</svg>');
  return out.join('\n');
}

/** The keys of a chart's series, under a chart `chartWidth` wide (lined up with its plot). */
export function legend(items: { name: string; color: string; dashed: boolean }[], chartWidth = CHART_WIDTH): string {
  const spans = items
    .map((item) => `<span class="key"><span class="line${item.dashed ? ' dashed' : ''}" style="border-color:${item.color}"></span>${esc(item.name)}</span>`)
    .join('');
  const indent = chartWidth === CHART_WIDTH ? '' : ` style="margin-left:${coord((MARGIN.left * 100) / chartWidth)}%"`;
  return `<div class="legend"${indent}>${spans}</div>`;
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
export function linearAxis(series: Series[], index: 0 | 1, title: string, format: (v: number) => string): Axis {
  const values = series.flatMap((s) => s.points.map((p) => p[index])).filter(Number.isFinite);
  return niceAxis(Math.min(0, ...values), Math.max(0, ...values), title, format);
}

/** A linear axis from `min` to `max`, widened to round ticks (about five). */
export function niceAxis(min: number, max: number, title: string, format: (v: number) => string): Axis {
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
export function logAxis(min: number, max: number, title: string, format: (v: number) => string): Axis {
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

/** The "nines" of a percentile: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3 (HdrHistogram's plots). */
export function nines(percentile: number): number {
  if (percentile >= 100) return Infinity;
  if (percentile <= 0) return 0;
  return -Math.log10(1 - percentile / 100);
}

/** 1 → "90", 2 → "99", 3 → "99.9". */
export function percentileLabel(ninesCount: number): string {
  return ninesCount <= 2 ? String(100 - 10 ** (2 - ninesCount)) : `99.${'9'.repeat(ninesCount - 2)}`;
}

/** Rounds an SVG coordinate. */
export function coord(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0';
}

export const CHART_CSS = `
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
`;
