/**
 * The main-thread loop of the ringwire echo servers (TCP and UDP). It never blocks: each
 * turn does the server's own chores (take new clients, handle resets, retry held echoes),
 * then drains the reader (DRAIN_BATCH at a time, for at most TURN_BUDGET_MS) while the
 * server allows it. While datagrams flow, and for SPIN_MS after the last one, the loop
 * turns on setImmediate; after that it backs off to a 1 ms timer, so an idle server costs
 * no CPU (and the first datagram after a pause waits at most ~1 ms).
 */
import { performance } from 'node:perf_hooks';
import type { DatagramVisitor, QueuedConnectionReader } from 'ringwire';

/** Datagrams per drain call. */
const DRAIN_BATCH = 256;
/** Longest a turn keeps draining before it yields to the event loop (ms). */
const TURN_BUDGET_MS = 4;
/** How long after the last datagram the loop keeps turning on setImmediate (ms). */
const SPIN_MS = 20;

/** What one server's loop does each turn. */
export interface EchoLoopSteps {
  /** The reader drained each turn. */
  reader: QueuedConnectionReader;
  /** The drain visitor: echoes one datagram (or holds it back). */
  echo: DatagramVisitor;
  /** The chores before draining; true when any of them did something. */
  chores(): boolean;
  /** False while held echoes must go out before more is drained (back-pressure). */
  mayDrain(): boolean;
}

/** Starts the loop on the next turn of the event loop; returns the function that stops it. */
export function startEchoLoop(steps: EchoLoopSteps): () => void {
  const { reader, echo } = steps;
  let lastWorkAt = performance.now();
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let immediate: NodeJS.Immediate | null = null;

  function turn(): void {
    timer = null;
    immediate = null;
    if (stopped) return;
    let worked = steps.chores();
    if (steps.mayDrain()) {
      const deadline = performance.now() + TURN_BUDGET_MS;
      let delivered: number;
      do {
        delivered = reader.drain(echo, DRAIN_BATCH);
        if (delivered > 0) worked = true;
      } while (delivered === DRAIN_BATCH && steps.mayDrain() && performance.now() < deadline);
    }
    const now = performance.now();
    if (worked) lastWorkAt = now;
    if (now - lastWorkAt < SPIN_MS) immediate = setImmediate(turn);
    else timer = setTimeout(turn, 1);
  }

  immediate = setImmediate(turn);
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    if (immediate !== null) clearImmediate(immediate);
  };
}
