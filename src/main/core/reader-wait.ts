/** @internal What the reader wait needs of a shard: to park on its inbound ring, and hold the event loop while parked. */
export interface ParkableShard {
  /** Asks the shard to ring once it publishes; false when records wait already. */
  parkInbound(): boolean;
  unparkInbound(): void;
  /** Whether the shard's doorbell holds the event loop (while a wait is pending). */
  holdLoop(hold: boolean): void;
}

const NONE: readonly ParkableShard[] = [];

/** @internal What a {@link ReaderWait} waits on: its manager's queues and shards. */
export interface WaitSource {
  /**
   * True when something can be taken now: a datagram, a new connection or a reset. It may
   * read connection events from the rings on the way.
   */
  ready(): boolean;
  /** The shards whose inbound rings to park on. */
  shards(): readonly ParkableShard[];
}

/** Options for waitForReaders. */
export interface WaitOptions {
  /** Ends the wait early: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface Waiter {
  resolve(value: boolean): void;
  reject(reason: unknown): void;
  timer: NodeJS.Timeout | null;
  signal: AbortSignal | null;
  onAbort: (() => void) | null;
}

/**
 * @internal
 * The waits of one manager's waitForReaders (Panda3D's wait_for_readers), without
 * blocking and without spinning.
 *
 * While a wait is pending, the main thread is parked on every shard's inbound ring: the
 * ring's consumer flag is set, and the shard that next publishes clears it and rings the
 * doorbell once (a MessagePort message; in single-thread mode a microtask). Nobody parked,
 * nobody rings: a game loop that polls every tick pays one load of a shared word per batch
 * the shards publish, as before. Events of the main thread (a new client accepted, a
 * connection cut by a writer limit, a shard that died) wake the waits too. A wake that
 * finds nothing to take (only OPENED records, say) parks again, so a wait resolves true
 * only when something is there.
 */
export class ReaderWait {
  private readonly waiters = new Set<Waiter>();
  /** The shards parked on and holding the event loop, to let go of exactly those. */
  private held: readonly ParkableShard[] = NONE;
  private parked = false;
  private closed = false;
  private wakeQueued = false;
  private readonly wakeNow = (): void => {
    this.wakeQueued = false;
    this.wake();
  };

  constructor(private readonly source: WaitSource) {}

  /**
   * Resolves true as soon as something can be taken, false after `timeoutSeconds`
   * (negative or Infinity: no limit; 0: just look), and false once closed.
   */
  wait(timeoutSeconds: number, options: WaitOptions = {}): Promise<boolean> {
    const signal = options.signal ?? null;
    if (signal !== null && signal.aborted) return Promise.reject(signal.reason);
    // An answer known at once still comes through the event loop: a loop that awaits
    // waits while data keeps coming must not keep sockets, timers and signals from their turn.
    if (this.closed) return nextTurn(false);
    if (this.source.ready()) return nextTurn(true);
    if (timeoutSeconds === 0) return nextTurn(false);
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: null, signal, onAbort: null };
      if (timeoutSeconds > 0 && timeoutSeconds !== Infinity) {
        waiter.timer = setTimeout(() => this.settle(waiter, false), timeoutSeconds * 1000);
      }
      if (signal !== null) {
        waiter.onAbort = () => this.abort(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.add(waiter);
      if (!this.parked && !this.park()) this.settleAll(true);
    });
  }

  /**
   * Something may have come (a shard rang, or a main-thread event): settles every wait when
   * something can be taken, else parks again. Does nothing while nobody waits.
   */
  wake(): void {
    if (this.waiters.size === 0) return;
    this.unpark();
    if (this.source.ready() || !this.park()) this.settleAll(true);
  }

  /**
   * A main-thread event that may make something available (a client accepted, a reset
   * queued). It may come in the middle of a reader's drain (a writer limit cut a
   * connection): the wake runs once the current call has returned.
   */
  notify(): void {
    if (this.waiters.size === 0 || this.wakeQueued) return;
    this.wakeQueued = true;
    queueMicrotask(this.wakeNow);
  }

  /** The manager closed: every wait resolves false, and later ones at once. */
  close(): void {
    this.closed = true;
    this.settleAll(false);
  }

  /**
   * Parks on every shard and holds the event loop. Returns false, parked on none, when
   * something can be taken after all.
   */
  private park(): boolean {
    for (;;) {
      const shards = this.source.shards();
      let parked = 0;
      while (parked < shards.length && shards[parked].parkInbound()) parked++;
      if (parked === shards.length) {
        // The set's own array: a shard replaced meanwhile is let go of in its slot.
        this.held = shards;
        for (const shard of this.held) shard.holdLoop(true);
        this.parked = true;
        return true;
      }
      for (let i = 0; i <= parked; i++) shards[i].unparkInbound();
      // Records came meanwhile: read them; they may be only events nobody sees.
      if (this.source.ready()) return false;
    }
  }

  private unpark(): void {
    this.parked = false;
    for (const shard of this.held) {
      shard.unparkInbound();
      shard.holdLoop(false);
    }
    this.held = NONE;
  }

  private settle(waiter: Waiter, value: boolean): void {
    if (!this.detach(waiter)) return;
    if (this.waiters.size === 0) this.unpark();
    waiter.resolve(value);
  }

  private abort(waiter: Waiter): void {
    if (!this.detach(waiter)) return;
    if (this.waiters.size === 0) this.unpark();
    waiter.reject(waiter.signal!.reason);
  }

  private settleAll(value: boolean): void {
    this.unpark();
    // resolve() only queues the waiters' continuations: none can add a wait meanwhile.
    for (const waiter of this.waiters) {
      this.detach(waiter);
      waiter.resolve(value);
    }
  }

  /** Removes `waiter` and its timer and abort listener; false when it was already gone. */
  private detach(waiter: Waiter): boolean {
    if (!this.waiters.delete(waiter)) return false;
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    if (waiter.onAbort !== null) waiter.signal!.removeEventListener('abort', waiter.onAbort);
    return true;
  }
}

function nextTurn(value: boolean): Promise<boolean> {
  return new Promise((resolve) => setImmediate(resolve, value));
}
