/**
 * Opens a run's connections at a bounded rate and concurrency: connection k is started no
 * sooner than k / rate seconds after the first, and at most MAX_PARALLEL connects are in
 * flight at once, so a large run neither floods the target's accept queue nor the
 * client's own file descriptors.
 */
import { performance } from 'node:perf_hooks';
import type { ClientTransport } from './client-transport.js';

/** Connects in flight at once. */
export const MAX_PARALLEL = 256;
/** How long one connect may take before it counts as failed (ms). */
export const CONNECT_TIMEOUT_MS = 10_000;

export interface OpenOutcome {
  opened: number;
  failed: number;
  /** From the first connect started to the last one settled. */
  seconds: number;
}

/**
 * Opens connections 0 … count − 1 on `client` at `ratePerSecond`. `onOpened(index)` runs
 * for each success as it happens. Stops starting new connects when `signal` aborts;
 * resolves once every connect started has settled.
 */
export function openConnections(
  client: ClientTransport,
  count: number,
  ratePerSecond: number,
  signal: AbortSignal,
  onOpened: (index: number) => void,
): Promise<OpenOutcome> {
  return new Promise<OpenOutcome>((resolve) => {
    const start = performance.now();
    let started = 0;
    let pending = 0;
    let opened = 0;
    let failed = 0;
    let timer: NodeJS.Timeout | null = null;
    let done = false;

    const finish = (): void => {
      if (done) return;
      done = true;
      if (timer !== null) clearTimeout(timer);
      signal.removeEventListener('abort', pump);
      resolve({ opened, failed, seconds: (performance.now() - start) / 1000 });
    };

    const settle = (index: number, ok: boolean): void => {
      pending--;
      if (ok) {
        opened++;
        onOpened(index);
      } else {
        failed++;
      }
      pump();
    };

    function pump(): void {
      if (done) return;
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
      const stopping = signal.aborted;
      if (!stopping) {
        const elapsed = (performance.now() - start) / 1000;
        const allowed = Math.min(count, Math.floor(elapsed * ratePerSecond) + 1);
        while (started < allowed && pending < MAX_PARALLEL) {
          const index = started++;
          pending++;
          client.connect(index, CONNECT_TIMEOUT_MS).then(
            (ok) => settle(index, ok),
            () => settle(index, false),
          );
        }
      }
      if (stopping || started === count) {
        if (pending === 0) finish();
        return;
      }
      // More to start: when the rate allows the next one (a settle may come sooner).
      if (pending < MAX_PARALLEL) {
        const due = (started / ratePerSecond) * 1000 - (performance.now() - start);
        timer = setTimeout(pump, Math.max(1, Math.ceil(due)));
      }
    }

    signal.addEventListener('abort', pump);
    pump();
  });
}
