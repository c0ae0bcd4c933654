/**
 * A shard's run, as the main thread sees it: one state, with every transition in
 * {@link nextShardState} (as the worker side's ConnectionState is for a connection).
 *
 * ```
 *            start (first socket)            run ends, holding nothing
 *   IDLE ───────────────────────▶ RUNNING ─────────────────────────────▶ PARKED
 *     │                          │   ▲  ◀──── start (a record published) ──┘ │
 *     │ close()        close():  │   │                                       │ close()
 *     │                SHUTDOWN  ▼   │ run ends with records left: run again │
 *     │                queued  STOPPING ─┘                                   │
 *     │                          │ run ends, SHUTDOWN taken                  │
 *     └────────────────────────▶ STOPPED ◀───────────────────────────────────┘
 *
 *   any state but STOPPED ── the thread dies ──▶ FAILED (the slot gets a new shard)
 * ```
 *
 * IDLE: a worker shard before the manager's first socket starts the pool; records wait in
 * its ring. RUNNING: its task runs on a pool thread (the main-thread shard runs from the
 * start until its SHUTDOWN). PARKED: it ended its run because it held nothing, so its
 * thread no longer holds the process; the next record published starts a new run on the
 * same rings. STOPPING: SHUTDOWN is queued and nothing more may be sent; it runs until it
 * takes it. STOPPED: it has ended for good (close() marks an idle or parked shard stopped
 * at once: it holds nothing to flush). FAILED: its thread died.
 */
export const ShardState = {
  IDLE: 0,
  RUNNING: 1,
  PARKED: 2,
  STOPPING: 3,
  STOPPED: 4,
  FAILED: 5,
} as const;
export type ShardState = (typeof ShardState)[keyof typeof ShardState];

/** What happens to a shard's run. */
export const ShardEvent = {
  /** A run starts on a pool thread (or the main-thread shard starts). */
  START: 0,
  /** A run ended without error. */
  RUN_ENDED: 1,
  /** A run ended without error and records still wait for the shard: it runs again. */
  RUN_ENDED_WITH_WORK: 2,
  /** close(): a running shard gets its SHUTDOWN; one that is not running is stopped. */
  CLOSE: 3,
  /** The thread died. */
  FAIL: 4,
  /** The manager let go of the shard's doorbell (the end of close()). */
  DISPOSE: 5,
} as const;
export type ShardEvent = (typeof ShardEvent)[keyof typeof ShardEvent];

const { IDLE, RUNNING, PARKED, STOPPING, STOPPED, FAILED } = ShardState;

/**
 * The state after `event` in `state`; the same state when the event means nothing there
 * (a record published to a stopping shard does not start it, a second close does nothing).
 */
export function nextShardState(state: ShardState, event: ShardEvent): ShardState {
  switch (event) {
    case ShardEvent.START:
      return state === IDLE || state === PARKED ? RUNNING : state;
    case ShardEvent.RUN_ENDED:
      return state === RUNNING ? PARKED : state === STOPPING ? STOPPED : state;
    case ShardEvent.RUN_ENDED_WITH_WORK:
      // RUNNING parks and is started again at once (START); STOPPING runs on to its SHUTDOWN.
      return state === RUNNING ? PARKED : state;
    case ShardEvent.CLOSE:
      return state === RUNNING ? STOPPING : state === IDLE || state === PARKED ? STOPPED : state;
    case ShardEvent.FAIL:
      return state === STOPPED ? STOPPED : FAILED;
    case ShardEvent.DISPOSE:
      return state === FAILED ? FAILED : STOPPED;
  }
}

/** True while the shard takes new records (sends, new connections): IDLE, RUNNING or PARKED. */
export function acceptsRecords(state: ShardState): boolean {
  return state <= PARKED;
}

/** True once the shard has ended for good: STOPPED or FAILED. */
export function hasEnded(state: ShardState): boolean {
  return state >= STOPPED;
}
