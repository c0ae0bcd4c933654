import { performance } from 'node:perf_hooks';

/**
 * A game loop's clock for the network benches: a self-correcting fixed-rate timer (one
 * missed frame too many and it drops the missed ticks rather than run them back to back),
 * with snapshots taken at the start of a tick, so measurement windows open and close on
 * tick boundaries. Subclasses say what a snapshot holds and what a tick does.
 */
export abstract class FixedRateLoop<S> {
  /** Ticks run so far. */
  protected ticks = 0;
  private nextAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private waiters: ((snapshot: S) => void)[] = [];
  private readonly frameMs: number;
  private readonly tickNow = (): void => this.tick();

  constructor(tickHz: number) {
    this.frameMs = 1000 / tickHz;
  }

  start(): void {
    this.nextAt = performance.now();
    this.timer = setTimeout(this.tickNow, 0);
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A snapshot taken at the start of the next tick. */
  snapshotAtNextTick(): Promise<S> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The figures at the start of a tick (`start` is its performance.now()). */
  protected abstract snapshot(start: number): S;

  /** One tick's work; returns performance.now() when it is done. */
  protected abstract work(start: number): number;

  private tick(): void {
    const start = performance.now();
    this.ticks++;
    if (this.waiters.length > 0) {
      const snapshot = this.snapshot(start);
      for (const resolve of this.waiters.splice(0)) resolve(snapshot);
    }
    const now = this.work(start);
    this.nextAt += this.frameMs;
    if (this.nextAt < now - this.frameMs) this.nextAt = now;
    this.timer = setTimeout(this.tickNow, Math.max(0, this.nextAt - now));
  }
}
