/**
 * The main-thread loop of the ringwire echo servers (TCP and UDP). It never blocks and
 * never spins: each turn does the server's own chores (take new clients, handle resets,
 * retry held echoes), then drains the reader (DRAIN_BATCH at a time, for at most
 * TURN_BUDGET_MS) while the server allows it. When the reader is empty it sleeps in
 * `manager.waitForReaders`, which wakes it when a datagram, a client or a reset comes: an
 * idle server costs no CPU, and a busy one CPU in proportion to its traffic. Only while
 * echoes are held back (a client behind by SEND_BACKLOG_LIMIT) does it retry on a 1 ms
 * timer, since the wait does not wake when a client catches up.
 */
import { performance } from 'node:perf_hooks';
import type { DatagramVisitor, QueuedConnectionManager, QueuedConnectionReader } from 'ringwire';

/** Datagrams per drain call. */
const DRAIN_BATCH = 256;
/** Longest a turn keeps draining before it yields to the event loop (ms). */
const TURN_BUDGET_MS = 4;

/** What one server's loop does each turn. */
export interface EchoLoopSteps {
  /** The manager whose waitForReaders the loop sleeps in. */
  manager: QueuedConnectionManager;
  /** The reader drained each turn. */
  reader: QueuedConnectionReader;
  /** The drain visitor: echoes one datagram (or holds it back). */
  echo: DatagramVisitor;
  /** The chores before draining. */
  chores(): void;
  /** False while held echoes must go out before more is drained (back-pressure). */
  mayDrain(): boolean;
  /** True while echoes are held back, to be retried soon. */
  holding(): boolean;
}

/** Starts the loop on the next turn of the event loop; returns the function that stops it. */
export function startEchoLoop(steps: EchoLoopSteps): () => void {
  const { manager, reader, echo } = steps;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let immediate: NodeJS.Immediate | null = null;
  const sleeping = new AbortController();
  const sleep = { signal: sleeping.signal };

  function turn(): void {
    timer = null;
    immediate = null;
    if (stopped) return;
    steps.chores();
    let more = false;
    if (steps.mayDrain()) {
      const deadline = performance.now() + TURN_BUDGET_MS;
      let delivered: number;
      do {
        delivered = reader.drain(echo, DRAIN_BATCH);
      } while (delivered === DRAIN_BATCH && steps.mayDrain() && performance.now() < deadline);
      more = delivered === DRAIN_BATCH;
    }
    if (steps.holding()) timer = setTimeout(turn, 1);
    else if (more) immediate = setImmediate(turn);
    else manager.waitForReaders(-1, sleep).then(turn, ignore);
  }

  immediate = setImmediate(turn);
  return () => {
    stopped = true;
    sleeping.abort();
    if (timer !== null) clearTimeout(timer);
    if (immediate !== null) clearImmediate(immediate);
  };
}

function ignore(): void {}
