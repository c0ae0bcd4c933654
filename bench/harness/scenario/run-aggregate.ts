/**
 * The coordinator's view of a run: the latest metrics of every generator, merged (counters
 * summed, histograms added), the time series of the run, and the thresholds judged on the
 * merged metrics.
 *
 * Seconds are closed by the generators' ticks, not by a clock of the coordinator's: second
 * n is closed once every generator still running has sent its n-th tick (a generator that
 * ended or vanished is not waited for), so each point holds exactly each generator's n-th
 * second: its datagrams, its errors and its trends' samples.
 */
import { BuiltIn, type GaugeValue, MetricSet, type MetricsSnapshot, type RateValue, summarizeTrend, trendPercentile, type TrendSummary } from './metrics.js';
import type { GeneratorTick } from './scenario-generator.js';
import { judge, type Threshold, type ThresholdResult } from './thresholds.js';

/** One second of the run, over every generator. */
export interface SeriesPoint {
  /** Seconds into the run (the end of this second). */
  t: number;
  bots: number;
  sentPerSecond: number;
  receivedPerSecond: number;
  errors: number;
  /** Each trend's figures over this second's samples. */
  trends: Record<string, { count: number; p50: number | null; p99: number | null }>;
}

/** The figures of every metric (what the end table and --json show). */
export interface MetricsSummary {
  trends: Record<string, TrendSummary>;
  counters: Record<string, { count: number; perSecond: number }>;
  rates: Record<string, RateValue & { rate: number | null }>;
  gauges: Record<string, GaugeValue>;
  checks: Record<string, RateValue & { rate: number | null }>;
}

export function summarize(metrics: MetricSet, elapsedSeconds: number): MetricsSummary {
  const rate = (value: RateValue): RateValue & { rate: number | null } => ({ ...value, rate: value.total === 0 ? null : value.passes / value.total });
  const checks: MetricsSummary['checks'] = {};
  for (const [name, value] of metrics.checks) checks[name] = rate(value);
  if (metrics.checks.size > 0) checks[BuiltIn.CHECKS] = rate(metrics.checksTotal());
  return {
    trends: Object.fromEntries([...metrics.trends].map(([name, h]) => [name, summarizeTrend(h)])),
    counters: Object.fromEntries([...metrics.counters].map(([name, count]) => [name, { count, perSecond: elapsedSeconds > 0 ? count / elapsedSeconds : 0 }])),
    rates: Object.fromEntries([...metrics.rates].map(([name, value]) => [name, rate(value)])),
    gauges: Object.fromEntries([...metrics.gauges].map(([name, value]) => [name, { ...value }])),
    checks,
  };
}

export class RunAggregate {
  private readonly latest = new Map<number, GeneratorTick>();
  /** The highest second each running generator has sent. */
  private readonly reported = new Map<number, number>();
  private readonly finished = new Set<number>();
  /** Each second's sets from every generator, merged, until the second is closed. */
  private readonly pending = new Map<number, MetricSet>();
  private closed = 0;
  readonly series: SeriesPoint[] = [];
  /** The merged metrics as of the last closed second (or the end). */
  merged: MetricSet = MetricSet.withBuiltIns();
  elapsed = 0;
  results: ThresholdResult[] = [];
  /** What the bots threw, by message, over every generator. */
  errors: Record<string, number> = {};

  constructor(
    private readonly thresholds: readonly Threshold[],
    private readonly generators: number,
  ) {}

  /** A generator's tick, or its final result (then `final`): returns the seconds it let close. */
  add(tick: GeneratorTick, final = false): SeriesPoint[] {
    this.latest.set(tick.index, tick);
    let pending = this.pending.get(tick.sequence);
    if (pending === undefined) {
      pending = new MetricSet();
      this.pending.set(tick.sequence, pending);
    }
    pending.merge(tick.second);
    if (tick.elapsed > this.elapsed) this.elapsed = tick.elapsed;
    this.reported.set(tick.index, tick.sequence);
    if (final) this.finished.add(tick.index);
    return this.closeReady();
  }

  /** A generator that ended without a result (it vanished): the run stops waiting for it. */
  finish(index: number): SeriesPoint[] {
    this.finished.add(index);
    return this.closeReady();
  }

  /** The latest total of each generator. */
  totals(): (MetricSet | MetricsSnapshot)[] {
    return [...this.latest.values()].map((tick) => tick.total);
  }

  /** The latest total of each generator, as data (for --json). */
  snapshots(): MetricsSnapshot[] {
    return [...this.latest.values()].map((tick) => (tick.total instanceof MetricSet ? tick.total.snapshot() : tick.total));
  }

  /** Closes every second that each generator still running has reported. */
  private closeReady(): SeriesPoint[] {
    const points: SeriesPoint[] = [];
    for (;;) {
      const next = this.closed + 1;
      if (!this.pending.has(next)) break;
      let ready = true;
      for (let index = 0; index < this.generators; index++) {
        if (this.finished.has(index)) continue;
        if ((this.reported.get(index) ?? 0) < next) ready = false;
      }
      if (!ready) break;
      points.push(this.closeSecond(next));
    }
    return points;
  }

  private closeSecond(second: number): SeriesPoint {
    this.closed = second;
    const merged = MetricSet.merged(this.totals());
    if (!merged.gauges.has(BuiltIn.BOTS)) merged.gauges.set(BuiltIn.BOTS, { value: 0, min: 0, max: 0 });
    this.merged = merged;
    const errors: Record<string, number> = {};
    for (const tick of this.latest.values()) for (const [message, count] of Object.entries(tick.errors)) errors[message] = (errors[message] ?? 0) + count;
    this.errors = errors;
    const pending = this.pending.get(second)!;
    this.pending.delete(second);
    const trends: SeriesPoint['trends'] = {};
    for (const [name, histogram] of pending.trends) {
      trends[name] = { count: histogram.totalCount, p50: trendPercentile(histogram, 50), p99: trendPercentile(histogram, 99) };
    }
    const point: SeriesPoint = {
      t: second,
      bots: merged.gauges.get(BuiltIn.BOTS)?.value ?? 0,
      sentPerSecond: pending.counters.get(BuiltIn.DATAGRAMS_SENT) ?? 0,
      receivedPerSecond: pending.counters.get(BuiltIn.DATAGRAMS_RECEIVED) ?? 0,
      errors: pending.counters.get(BuiltIn.ERRORS) ?? 0,
      trends,
    };
    this.series.push(point);
    this.results = judge(this.thresholds, merged, this.elapsed);
    return point;
  }

  /** After the last result: closes what is left, and judges the thresholds on the final figures. */
  end(): void {
    for (let index = 0; index < this.generators; index++) this.finished.add(index);
    this.closeReady();
    for (const second of [...this.pending.keys()].sort((a, b) => a - b)) if (second > this.closed) this.closeSecond(second);
    this.merged = MetricSet.merged(this.totals());
    if (!this.merged.gauges.has(BuiltIn.BOTS)) this.merged.gauges.set(BuiltIn.BOTS, { value: 0, min: 0, max: 0 });
    this.results = judge(this.thresholds, this.merged, this.elapsed);
  }
}
