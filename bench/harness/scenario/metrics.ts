/**
 * A scenario's metrics, in k6's four kinds: trends (every sample in an HDR histogram, to
 * three significant digits), counters, rates (the share of true), gauges (the last value,
 * with its min and max). Checks are rates, one per check name, and all of them together
 * make the `checks` rate.
 *
 * Many generators (processes, agents) each keep a MetricSet and send snapshots; the
 * coordinator merges them: counters and rates add up, histograms are added bucket by
 * bucket (so a merged p99 is the p99 of every sample, never an average of p99s), gauges
 * add up (a gauge is a level, like the bots each generator holds), their min and max too.
 */
import { type Histogram, build, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';

/** Samples are kept in thousandths (a trend in ms keeps µs). */
const SCALE = 1000;

export function newHistogram(): Histogram {
  return build({ bitBucketSize: 32, autoResize: true, lowestDiscernibleValue: 1, highestTrackableValue: 2 * SCALE, numberOfSignificantValueDigits: 3 });
}

/** A trend's figures (ms for timings): what the end table and the JSON show. */
export interface TrendSummary {
  count: number;
  min: number | null;
  avg: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

export interface RateValue {
  passes: number;
  total: number;
}

export interface GaugeValue {
  value: number;
  min: number;
  max: number;
}

/** A MetricSet as data: what moves between processes and into --json. */
export interface MetricsSnapshot {
  /** Each trend's histogram, compressed (hdr-histogram-js's base64 encoding). */
  trends: Record<string, string>;
  counters: Record<string, number>;
  rates: Record<string, RateValue>;
  gauges: Record<string, GaugeValue>;
  checks: Record<string, RateValue>;
}

/** The built-in metrics every run has. */
export const BuiltIn = {
  BOTS: 'bots',
  BOTS_STARTED: 'bots_started',
  BOTS_CONNECTED: 'bots_connected',
  DATAGRAMS_SENT: 'datagrams_sent',
  DATAGRAMS_RECEIVED: 'datagrams_received',
  BYTES_SENT: 'bytes_sent',
  BYTES_RECEIVED: 'bytes_received',
  CONNECT_TIME: 'connect_time',
  SCHEDULE_LAG: 'schedule_lag',
  ERRORS: 'errors',
  CHECKS: 'checks',
} as const;

/** A value as the histograms keep it (thousandths, never negative). */
export function sampleOf(value: number): number {
  const scaled = Math.round(value * SCALE);
  return scaled < 0 ? 0 : scaled;
}

export class MetricSet {
  readonly trends = new Map<string, Histogram>();
  readonly counters = new Map<string, number>();
  readonly rates = new Map<string, RateValue>();
  readonly gauges = new Map<string, GaugeValue>();
  readonly checks = new Map<string, RateValue>();

  /** Every built-in metric at zero, so thresholds and tables always find them. */
  static withBuiltIns(): MetricSet {
    const set = new MetricSet();
    for (const name of [BuiltIn.BOTS_STARTED, BuiltIn.BOTS_CONNECTED, BuiltIn.DATAGRAMS_SENT, BuiltIn.DATAGRAMS_RECEIVED, BuiltIn.BYTES_SENT, BuiltIn.BYTES_RECEIVED, BuiltIn.ERRORS]) {
      set.counters.set(name, 0);
    }
    set.gauges.set(BuiltIn.BOTS, { value: 0, min: 0, max: 0 });
    set.trend(BuiltIn.CONNECT_TIME);
    set.trend(BuiltIn.SCHEDULE_LAG);
    return set;
  }

  trend(name: string): Histogram {
    let histogram = this.trends.get(name);
    if (histogram === undefined) {
      histogram = newHistogram();
      this.trends.set(name, histogram);
    }
    return histogram;
  }

  addTrend(name: string, value: number): void {
    this.trend(name).recordValue(sampleOf(value));
  }

  addCounter(name: string, n: number): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  addRate(name: string, pass: boolean): void {
    addRateTo(this.rates, name, pass);
  }

  setGauge(name: string, value: number): void {
    const gauge = this.gauges.get(name);
    if (gauge === undefined) this.gauges.set(name, { value, min: value, max: value });
    else {
      gauge.value = value;
      if (value < gauge.min) gauge.min = value;
      if (value > gauge.max) gauge.max = value;
    }
  }

  addCheck(name: string, pass: boolean): void {
    addRateTo(this.checks, name, pass);
  }

  /** The passes and total of every check together (the `checks` rate). */
  checksTotal(): RateValue {
    let passes = 0;
    let total = 0;
    for (const value of this.checks.values()) {
      passes += value.passes;
      total += value.total;
    }
    return { passes, total };
  }

  /**
   * Forgets what was measured, in place (handles to its histograms stay valid), except the
   * counters named in `keep`: the end of a warm-up. Gauges keep their level.
   */
  restart(keep: readonly string[]): void {
    for (const histogram of this.trends.values()) histogram.reset();
    for (const name of this.counters.keys()) if (!keep.includes(name)) this.counters.set(name, 0);
    for (const value of this.rates.values()) value.passes = value.total = 0;
    for (const value of this.checks.values()) value.passes = value.total = 0;
    for (const gauge of this.gauges.values()) gauge.min = gauge.max = gauge.value;
  }

  snapshot(): MetricsSnapshot {
    const trends: Record<string, string> = {};
    for (const [name, histogram] of this.trends) trends[name] = encodeIntoCompressedBase64(histogram);
    return { ...this.plain(), trends };
  }

  /** Everything but the trends, as data. */
  private plain(): MetricsSnapshot {
    return {
      trends: {},
      counters: Object.fromEntries(this.counters),
      rates: Object.fromEntries([...this.rates].map(([name, value]) => [name, { ...value }])),
      gauges: Object.fromEntries([...this.gauges].map(([name, value]) => [name, { ...value }])),
      checks: Object.fromEntries([...this.checks].map(([name, value]) => [name, { ...value }])),
    };
  }

  /**
   * Adds another set, or a snapshot of one, into this set (see the file's comment for how
   * each kind merges). A set in this process merges without encoding anything.
   */
  merge(source: MetricSet | MetricsSnapshot): void {
    const snapshot = source instanceof MetricSet ? source.plain() : source;
    if (source instanceof MetricSet) {
      for (const [name, histogram] of source.trends) this.trend(name).add(histogram);
    } else {
      for (const [name, encoded] of Object.entries(source.trends)) {
        const other = decodeFromCompressedBase64(encoded, 32, false);
        this.trend(name).add(other);
        other.destroy();
      }
    }
    for (const [name, value] of Object.entries(snapshot.counters)) this.addCounter(name, value);
    for (const [name, value] of Object.entries(snapshot.rates)) mergeRate(this.rates, name, value);
    for (const [name, value] of Object.entries(snapshot.checks)) mergeRate(this.checks, name, value);
    for (const [name, value] of Object.entries(snapshot.gauges)) {
      const gauge = this.gauges.get(name);
      if (gauge === undefined) this.gauges.set(name, { ...value });
      else {
        gauge.value += value.value;
        gauge.min += value.min;
        gauge.max += value.max;
      }
    }
  }

  /** The sum of sets or snapshots: what many generators measured, as one set. */
  static merged(snapshots: Iterable<MetricSet | MetricsSnapshot>): MetricSet {
    const set = new MetricSet();
    for (const snapshot of snapshots) set.merge(snapshot);
    return set;
  }
}

function addRateTo(map: Map<string, RateValue>, name: string, pass: boolean): void {
  let value = map.get(name);
  if (value === undefined) {
    value = { passes: 0, total: 0 };
    map.set(name, value);
  }
  value.total++;
  if (pass) value.passes++;
}

function mergeRate(map: Map<string, RateValue>, name: string, other: RateValue): void {
  const value = map.get(name);
  if (value === undefined) map.set(name, { ...other });
  else {
    value.passes += other.passes;
    value.total += other.total;
  }
}

/** A trend's figures, in the unit its samples were added in. */
export function summarizeTrend(histogram: Histogram): TrendSummary {
  const count = histogram.totalCount;
  const at = (percentile: number): number | null => (count === 0 ? null : histogram.getValueAtPercentile(percentile) / SCALE);
  return {
    count,
    min: at(0),
    avg: count === 0 ? null : histogram.mean / SCALE,
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    p999: at(99.9),
    max: at(100),
  };
}

/** A trend's value at `percentile` (0–100), or null when it has no sample. */
export function trendPercentile(histogram: Histogram, percentile: number): number | null {
  return histogram.totalCount === 0 ? null : histogram.getValueAtPercentile(percentile) / SCALE;
}
