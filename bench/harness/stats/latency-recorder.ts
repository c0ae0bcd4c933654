/**
 * Round-trip times in HDR histograms (hdr-histogram-js): microsecond resolution, three
 * significant digits, up to HIGHEST_US. One histogram holds the whole measured window;
 * a second one holds the current second, for the timeline's p99 and the progress line.
 */
import { type Histogram, build } from 'hdr-histogram-js';
import type { LatencySummary } from '../report.js';

/** The longest round trip recorded (µs); a longer one is recorded as this. */
export const HIGHEST_US = 60_000_000;

/** The percentiles of the report's curve (0–100). */
export const CURVE_PERCENTILES: readonly number[] = [
  0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100,
];

function histogram(): Histogram {
  return build({
    bitBucketSize: 32,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
  });
}

const toMs = (us: number): number => us / 1000;

export class LatencyRecorder {
  private readonly total = histogram();
  private readonly second = histogram();

  /**
   * Records one round trip of `ms` milliseconds: in the current second always, in the
   * window's histogram when `inWindow` (warm-up round trips are shown, not reported).
   */
  record(ms: number, inWindow: boolean): void {
    let us = Math.round(ms * 1000);
    if (us < 0) us = 0;
    else if (us > HIGHEST_US) us = HIGHEST_US;
    if (inWindow) this.total.recordValue(us);
    this.second.recordValue(us);
  }

  /** Round trips recorded in the window. */
  count(): number {
    return this.total.totalCount;
  }

  /** The p99 of the window so far (ms), or null before the first round trip. */
  p99SoFar(): number | null {
    return this.total.totalCount === 0 ? null : toMs(this.total.getValueAtPercentile(99));
  }

  /** The p99 of the round trips since the last call (ms), or null when there were none; starts a new second. */
  takeSecond(): number | null {
    const p99 = this.second.totalCount === 0 ? null : toMs(this.second.getValueAtPercentile(99));
    this.second.reset();
    return p99;
  }

  /** The window's summary (every figure null when nothing was recorded). */
  summary(): LatencySummary {
    const h = this.total;
    const count = h.totalCount;
    const at = (percentile: number): number | null => (count === 0 ? null : toMs(h.getValueAtPercentile(percentile)));
    return {
      count,
      // The 0th and 100th percentiles, not minNonZeroValue and maxValue: all are rounded to
      // the histogram's buckets the same way, so min ≤ p50 ≤ … ≤ max always holds.
      minMs: at(0),
      p50Ms: at(50),
      p90Ms: at(90),
      p95Ms: at(95),
      p99Ms: at(99),
      p999Ms: at(99.9),
      p9999Ms: at(99.99),
      maxMs: at(100),
      meanMs: count === 0 ? null : toMs(h.mean),
      stdevMs: count === 0 ? null : toMs(h.stdDeviation),
      curve: count === 0 ? [] : CURVE_PERCENTILES.map((percentile) => ({ percentile, ms: toMs(h.getValueAtPercentile(percentile)) })),
    };
  }

}
