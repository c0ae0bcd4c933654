/**
 * Samples a process's resident set size (VmRSS, via readRssBytes) on a fixed interval, for
 * the soak check's memory bound. Each sample is stamped with the seconds since start().
 */
import { performance } from 'node:perf_hooks';
import { readRssBytes } from './process-memory.js';

/** One reading. */
export interface RssSample {
  /** Seconds since the sampler started. */
  t: number;
  rssBytes: number;
}

export class RssSampler {
  private readonly taken: RssSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  /** Readings that failed (the process was gone, or there is no /proc). */
  missed = 0;

  /** Samples process `pid` every `intervalMs` (a RangeError below 10 ms). */
  constructor(
    private readonly pid: number,
    private readonly intervalMs = 1000,
  ) {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`RssSampler: pid must be a positive integer, got ${String(pid)}`);
    if (!Number.isFinite(intervalMs) || intervalMs < 10) {
      throw new RangeError(`RssSampler: intervalMs must be at least 10, got ${String(intervalMs)}`);
    }
  }

  /** Takes a sample now (t = 0), then one every interval until stop(). */
  start(): void {
    if (this.timer !== null) return;
    this.startedAt = performance.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    // Sampling alone must never keep the process alive.
    this.timer.unref();
  }

  /** Takes a last sample and stops. Safe to call twice. */
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  /** Seconds since start(). */
  elapsed(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** The samples so far, oldest first. */
  samples(): readonly RssSample[] {
    return this.taken;
  }

  /** The latest reading (bytes), or null before the first one. */
  latest(): number | null {
    return this.taken.length === 0 ? null : this.taken[this.taken.length - 1].rssBytes;
  }

  private sample(): void {
    const rss = readRssBytes(this.pid);
    if (rss === null) {
      this.missed++;
      return;
    }
    this.taken.push({ t: Math.round(this.elapsed() * 1000) / 1000, rssBytes: rss });
  }
}
