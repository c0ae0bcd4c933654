/**
 * The coordinator's view of a run: the latest snapshot of every generator, merged into
 * one MetricSet a second (counters summed, histograms added), the time series of the run
 * (each second's rates and each trend's p50/p99 over every generator's samples of that
 * second), and the thresholds judged on the merged metrics.
 */
import { BuiltIn, MetricSet, type MetricsSnapshot, summarizeTrend, trendPercentile, type TrendSummary, type RateValue, type GaugeValue } from './metrics.js';
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
  private pendingSecond = new MetricSet();
  private lastSent = 0;
  private lastReceived = 0;
  private lastErrors = 0;
  readonly series: SeriesPoint[] = [];
  /** The merged metrics as of the last second (or the end). */
  merged: MetricSet = MetricSet.withBuiltIns();
  elapsed = 0;
  results: ThresholdResult[] = [];

  constructor(private readonly thresholds: readonly Threshold[]) {}

  /** A generator's tick (or its final result): kept until the next second is closed. */
  add(tick: GeneratorTick): void {
    this.latest.set(tick.index, tick);
    this.pendingSecond.merge(tick.second);
    if (tick.elapsed > this.elapsed) this.elapsed = tick.elapsed;
  }

  /** The latest total of each generator. */
  totals(): (MetricSet | MetricsSnapshot)[] {
    return [...this.latest.values()].map((tick) => tick.total);
  }

  /** The latest total of each generator, as data (for --json). */
  snapshots(): MetricsSnapshot[] {
    return [...this.latest.values()].map((tick) => (tick.total instanceof MetricSet ? tick.total.snapshot() : tick.total));
  }

  /** Merges what the generators sent into the run's figures, adds a series point, judges the thresholds. */
  closeSecond(): SeriesPoint {
    const merged = MetricSet.merged(this.totals());
    if (!merged.gauges.has(BuiltIn.BOTS)) merged.gauges.set(BuiltIn.BOTS, { value: 0, min: 0, max: 0 });
    this.merged = merged;
    const sent = merged.counters.get(BuiltIn.DATAGRAMS_SENT) ?? 0;
    const received = merged.counters.get(BuiltIn.DATAGRAMS_RECEIVED) ?? 0;
    const errors = merged.counters.get(BuiltIn.ERRORS) ?? 0;
    const trends: SeriesPoint['trends'] = {};
    for (const [name, histogram] of this.pendingSecond.trends) {
      trends[name] = { count: histogram.totalCount, p50: trendPercentile(histogram, 50), p99: trendPercentile(histogram, 99) };
    }
    const point: SeriesPoint = {
      t: Math.round(this.elapsed * 10) / 10,
      bots: merged.gauges.get(BuiltIn.BOTS)?.value ?? 0,
      sentPerSecond: sent - this.lastSent,
      receivedPerSecond: received - this.lastReceived,
      errors: errors - this.lastErrors,
      trends,
    };
    this.lastSent = sent;
    this.lastReceived = received;
    this.lastErrors = errors;
    this.pendingSecond = new MetricSet();
    this.series.push(point);
    this.results = judge(this.thresholds, merged, this.elapsed);
    return point;
  }
}
