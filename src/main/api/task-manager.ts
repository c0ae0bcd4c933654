import { describeValue } from '../../shared/describe-value.js';
import { performance } from 'node:perf_hooks';
import { ErrorCode, RingwireError, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';

/** What a task function returns: {@link Task.done}, {@link Task.cont} or {@link Task.again}. */
export type TaskStatus = 0 | 1 | 2;

/**
 * A task body. It receives its {@link Task} and returns Task.cont (run again next frame),
 * Task.done (or nothing: remove the task) or Task.again (run again after `task.delayTime`
 * seconds). It must be synchronous. The return type is `number` so Panda-style functions
 * annotated `: number` fit; any other number is rejected when the task returns it.
 */
export type TaskFunction = (task: Task) => TaskStatus | number | undefined | void;

/** ringwire's options for {@link TaskManager.add}. */
export interface TaskOptions {
  /** Seconds to wait before the first run (Panda3D's `delay=`); also the initial `delayTime`. Default 0. */
  delay?: number;
}

/**
 * How long frames took to run their tasks, since the TaskManager was made (ringwire's
 * extension; `ringwire/metrics` reads it at each scrape). Times are the real clock's,
 * whatever clock the manager was given.
 */
export interface FrameStats {
  /** Frames run. */
  frames: number;
  /**
   * Frames whose tasks took longer than a frame has: `1 / fixedRate` or `1 / frameRate` of
   * the run in progress. A frame run without either (step(), an uncapped run) cannot overrun.
   */
  overruns: number;
  /** Every frame's duration added up (seconds). */
  durationSeconds: number;
  /** The histogram's upper bounds (seconds), ascending; a last bucket, +Inf, holds the rest. */
  bucketBounds: readonly number[];
  /** Frames that took at most each bound, cumulative (as Prometheus's `le`), then all of them. */
  bucketCounts: number[];
}

/** The frame-duration histogram's bounds (seconds): around the 16.7 ms of a 60 Hz frame. */
const FRAME_BUCKETS: readonly number[] = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.0125, 0.0167, 0.025, 0.05, 0.1, 0.25];

/** Options for a {@link TaskManager}. */
export interface TaskManagerOptions {
  /** The clock, in seconds, monotonic. Default `performance.now() / 1000`. Tests may pass a fake one. */
  clock?: () => number;
}

/** What {@link RunOptions.wakeOn} needs: a QueuedConnectionManager has it. */
export interface ReaderWaiter {
  waitForReaders(timeoutSeconds: number, options?: { signal?: AbortSignal }): Promise<boolean>;
}

/** Options for {@link TaskManager.run}. */
export interface RunOptions {
  /** Frames per second at most; frames are spaced by timers, not a busy loop. Default: no cap. */
  frameRate?: number;
  /**
   * Sleep between frames until the next frame is due or this manager has something to
   * take (a datagram, a new client, a reset), whichever is first: data runs a frame at
   * once, between the frames of the grid. With it and no frameRate, frames run only when
   * data comes or a delayed task is due, so an idle program sleeps instead of turning
   * frames back to back; a task that returns Task.cont runs in every such frame.
   */
  wakeOn?: ReaderWaiter;
  /**
   * Fixed-step mode, for a simulation: frames run on a grid of exactly `1 / fixedRate`
   * seconds from the start of run(), and each frame is one step. Its tasks see `task.dt`
   * (and {@link TaskManager.getDt}) equal to `1 / fixedRate`, and `task.time` advance by
   * exactly that per step, whatever the timers did. A frame that runs late does not move
   * the grid: the steps that came due meanwhile run back to back (through the event loop,
   * so sockets and timers still get their turn), at most {@link maxCatchUpSteps} of them;
   * older ones are skipped and counted ({@link TaskManager.skippedStepCount}). Not with
   * `frameRate` or `wakeOn`: a task polls the reader once per step.
   */
  fixedRate?: number;
  /**
   * Fixed-step mode: the most steps that run back to back when frames fell behind the
   * grid (default 5). 1 never runs a burst: a late step runs once and the missed ones are
   * skipped. A whole number >= 1.
   */
  maxCatchUpSteps?: number;
}

/**
 * One scheduled task, as Panda3D's Task: made by {@link TaskManager.add} and handed to its
 * function on every run.
 */
export class Task {
  /** Return value: the task is finished and removed. */
  static readonly done = 0 as const;
  /** Return value: run the task again next frame. */
  static readonly cont = 1 as const;
  /** Return value: run the task again after `delayTime` seconds (0: next frame). */
  static readonly again = 2 as const;

  /**
   * Seconds since the task was added, as of the start of the current frame (in fixed-step
   * mode, of the step's point on the grid, so it advances by exactly `dt` per step).
   */
  time = 0;
  /** Frames since the task was added: 0 in the first frame it could run in. */
  frame = 0;
  /** Seconds Task.again waits before the next run; the task may change it. */
  delayTime: number;
  /**
   * Seconds this frame stands for: in fixed-step mode exactly `1 / fixedRate`; otherwise
   * the manager's clock since the previous frame (0 in the first).
   */
  dt = 0;

  /** @internal The manager's clock when the task was added. */
  _addedAt: number;
  /** @internal The first frame number the task could run in. */
  _startFrame: number;
  /** @internal The clock time from which the task is due. */
  _wakeAt: number;
  /** @internal Insertion order, to break ties between equal sorts. */
  _seq: number;
  /** @internal False once removed or done. */
  _alive = true;
  /** @internal The manager that runs it. */
  _manager: TaskManager;

  /** @internal Made by TaskManager.add. */
  constructor(
    /** The task's name (several tasks may share one). */
    readonly name: string,
    /** Tasks run in ascending sort within a frame; ties in the order they were added. */
    readonly sort: number,
    /** @internal The task body. */
    readonly _fn: TaskFunction,
    manager: TaskManager,
    seq: number,
    addedAt: number,
    startFrame: number,
    delay: number,
  ) {
    this._manager = manager;
    this._seq = seq;
    this._addedAt = addedAt;
    this._startFrame = startFrame;
    this._wakeAt = addedAt + delay;
    this.delayTime = delay;
  }

  /** Panda3D's getName(): the task's name. */
  getName(): string {
    return this.name;
  }

  /** True until the task is done or removed. */
  isAlive(): boolean {
    return this._alive;
  }

  /** Removes the task from its manager. Returns false when it was already gone. */
  remove(): boolean {
    return this._manager.remove(this) === 1;
  }
}

/**
 * Runs tasks once per frame, as Panda3D's task manager does for the seed programs'
 * polling tasks. {@link step} runs one frame; {@link run} loops frames and yields to the
 * Node event loop between them, so sockets, timers and signals keep being served.
 *
 * Errors: a task that throws stops the frame there and the error propagates out of
 * step(), or makes run()'s promise reject; the task stays scheduled.
 */
export class TaskManager {
  /** Live tasks, kept sorted by (sort, insertion order). */
  private readonly tasks: Task[] = [];
  /** The due tasks of the frame being run (reused). */
  private readonly batch: Task[] = [];
  private readonly clock: () => number;
  private frameNumber = 0;
  private nextSeq = 0;
  private stepping = false;
  /** The clock time of the last frame, and the seconds it stood for. */
  private lastFrameAt = Number.NaN;
  private frameDt = 0;
  /** Fixed-step mode: steps run and grid points skipped, over every run. */
  private stepsRun = 0;
  private stepsSkipped = 0;
  /** Frame durations: per bucket (not cumulative; the last is +Inf), their sum, the overruns. */
  private readonly frameBuckets = new Float64Array(FRAME_BUCKETS.length + 1);
  private frameSeconds = 0;
  private overruns = 0;

  // run() state
  private running = false;
  private stopRequested = false;
  /** True while run() is stepping a frame (stop() then waits for the frame to end). */
  private inRunFrame = false;
  /** Seconds between frames (0: no cap). */
  private period = 0;
  /** Fixed-step mode: the step (0: off), the grid's origin, the next grid point to run, the catch-up bound. */
  private fixedDt = 0;
  private gridOrigin = 0;
  private nextStep = 0;
  private maxCatchUp = DEFAULT_MAX_CATCH_UP;
  /** The frame-rate grid point of the last frame run. */
  private gridAt = 0;
  /** When the next frame is due. */
  private targetAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** run()'s wakeOn, and the wait on it in progress. */
  private waker: ReaderWaiter | null = null;
  private waiting: AbortController | null = null;
  /** Set when data ended the wait: the frame runs now, off the grid. */
  private dataFrame = false;
  private settle: ((error?: unknown) => void) | null = null;
  private readonly onWake: () => void;

  /** Throws a TypeError when `options.clock` is not a function. */
  constructor(options: TaskManagerOptions = {}) {
    const clock = options.clock;
    if (clock !== undefined && typeof clock !== 'function') {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `TaskManager option clock must be a function, got ${describeValue(clock)}`);
    }
    this.clock = clock ?? defaultClock;
    this.onWake = this.wake.bind(this);
  }

  /**
   * Adds a task that first runs in the next frame (or `options.delay` seconds from now)
   * and returns it. `name` defaults to the function's name. Throws a TypeError when `fn`
   * is not a function or is an async function (tasks must be synchronous), a RangeError
   * for a sort or delay that is not a finite number (delay: not negative).
   */
  add(fn: TaskFunction, name?: string, sort = 0, options: TaskOptions = {}): Task {
    checkFunction('TaskManager.add', fn);
    if (name !== undefined && typeof name !== 'string') {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `TaskManager.add: name must be a string, got ${describeValue(name)}`);
    }
    if (typeof sort !== 'number' || !Number.isFinite(sort)) {
      throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `TaskManager.add: sort must be a finite number, got ${describeValue(sort)}`);
    }
    const delay = options.delay ?? 0;
    checkDelay('TaskManager.add: options.delay', delay);
    const startFrame = this.stepping ? this.frameNumber + 1 : this.frameNumber;
    const task = new Task(name ?? (fn.name || 'task'), sort, fn, this, this.nextSeq++, this.clock(), startFrame, delay);
    this.insert(task);
    if (this.running && !this.inRunFrame) this.wakeEarlierFor(task);
    return task;
  }

  /**
   * Adds a task that first runs `delaySeconds` from now; its `delayTime` is that delay,
   * so returning Task.again repeats it at that interval. Returns the task. Throws as
   * {@link add} does, and a RangeError for a negative or non-finite delay.
   */
  doMethodLater(delaySeconds: number, fn: TaskFunction, name?: string, sort = 0): Task {
    checkDelay('TaskManager.doMethodLater: delaySeconds', delaySeconds);
    return this.add(fn, name, sort, { delay: delaySeconds });
  }

  /**
   * Removes a task, or every task with that name. Returns how many were removed (0 when
   * none matched). A task removed during a frame does not run later in that frame.
   */
  remove(nameOrTask: string | Task): number {
    if (nameOrTask instanceof Task) {
      if (!nameOrTask._alive || nameOrTask._manager !== this) return 0;
      this.unlink(nameOrTask);
      this.endRunIfEmpty();
      return 1;
    }
    if (typeof nameOrTask !== 'string') {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `TaskManager.remove: expected a task name or a Task, got ${describeValue(nameOrTask)}`);
    }
    let removed = 0;
    for (let i = this.tasks.length - 1; i >= 0; i--) {
      const task = this.tasks[i];
      if (task.name !== nameOrTask) continue;
      task._alive = false;
      this.tasks.splice(i, 1);
      removed++;
    }
    if (removed > 0) this.endRunIfEmpty();
    return removed;
  }

  /** True when at least one live task has this name. */
  hasTaskNamed(name: string): boolean {
    return this.tasks.some((task) => task.name === name);
  }

  /** The live tasks with this name (a new array; empty when none). */
  getTasksNamed(name: string): Task[] {
    return this.tasks.filter((task) => task.name === name);
  }

  /** Every live task, in the order they run (a new array). */
  getTasks(): Task[] {
    return this.tasks.slice();
  }

  /** Frames stepped so far. */
  get frameCount(): number {
    return this.frameNumber;
  }

  /** Fixed-step mode: the steps run so far (over every run). */
  get stepCount(): number {
    return this.stepsRun;
  }

  /** Fixed-step mode: grid points skipped because more than `maxCatchUpSteps` were behind. */
  get skippedStepCount(): number {
    return this.stepsSkipped;
  }

  /** How long frames took, and how many overran their frame (a new object each call). */
  getFrameStats(): FrameStats {
    const bucketCounts: number[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.frameBuckets.length; i++) {
      cumulative += this.frameBuckets[i];
      bucketCounts.push(cumulative);
    }
    return { frames: this.frameNumber, overruns: this.overruns, durationSeconds: this.frameSeconds, bucketBounds: FRAME_BUCKETS, bucketCounts };
  }

  /**
   * Seconds the current (or last) frame stands for: `1 / fixedRate` in fixed-step mode,
   * otherwise the clock since the previous frame (0 before the second frame).
   */
  getDt(): number {
    return this.frameDt;
  }

  /**
   * Runs one frame: every task that is due, once, in ascending sort (ties: the order they
   * were added). Tasks added during the frame first run in the next one. If a task throws,
   * the rest of the frame is skipped and the error propagates (the task stays scheduled).
   * Throws a TypeError, and removes the task, when a task returns a Promise or a value
   * that is not a task status; throws an Error when called from inside a task.
   */
  step(): void {
    if (this.stepping)
      throw new RingwireError(ErrorCode.TASK_MANAGER_BUSY, 'TaskManager.step: called from inside a task; a frame cannot run another frame');
    const now = this.clock();
    this.runFrame(now, Number.isNaN(this.lastFrameAt) ? 0 : now - this.lastFrameAt);
  }

  /** One frame at time `now`, standing for `dt` seconds. */
  private runFrame(now: number, dt: number): void {
    const startedAt = performance.now();
    this.stepping = true;
    this.lastFrameAt = now;
    this.frameDt = dt;
    const frame = this.frameNumber;
    const batch = this.batch;
    const tasks = this.tasks;
    for (let i = 0; i < tasks.length; i++) {
      if (tasks[i]._wakeAt <= now) batch.push(tasks[i]);
    }
    try {
      for (let i = 0; i < batch.length; i++) {
        const task = batch[i];
        if (!task._alive) continue;
        task.time = now - task._addedAt;
        task.frame = frame - task._startFrame;
        task.dt = dt;
        this.settleTask(task, task._fn(task), now);
      }
    } finally {
      batch.length = 0;
      this.frameNumber = frame + 1;
      this.stepping = false;
      this.recordFrame((performance.now() - startedAt) / 1000);
    }
  }

  /** One frame's duration into the histogram; an overrun when it took longer than the run's frame. */
  private recordFrame(seconds: number): void {
    let bucket = 0;
    while (bucket < FRAME_BUCKETS.length && seconds > FRAME_BUCKETS[bucket]) bucket++;
    this.frameBuckets[bucket]++;
    this.frameSeconds += seconds;
    const budget = this.running ? this.fixedDt || this.period : 0;
    if (budget > 0 && seconds > budget) this.overruns++;
  }

  /**
   * Runs frames until {@link stop} is called or no task remains, yielding to the event
   * loop between frames (setImmediate; with `frameRate`, timers that space the frames).
   * When every task sleeps (doMethodLater, Task.again) it waits for the earliest one
   * instead of spinning. The promise rejects with the error of a task that throws (see
   * {@link step}). With `fixedRate`, frames are fixed steps on a grid (see
   * {@link RunOptions.fixedRate}). Throws a RangeError for a bad frameRate, fixedRate or
   * maxCatchUpSteps, a TypeError for fixedRate with frameRate or wakeOn, and an Error when
   * already running.
   */
  run(options: RunOptions = {}): Promise<void> {
    // Before anything else: a refused second run must leave the running loop's state alone.
    if (this.running) throw new RingwireError(ErrorCode.TASK_MANAGER_BUSY, 'TaskManager.run: already running');
    if (this.stepping) throw new RingwireError(ErrorCode.TASK_MANAGER_BUSY, 'TaskManager.run: called from inside a task');
    const frameRate = options.frameRate;
    if (frameRate !== undefined && (typeof frameRate !== 'number' || !Number.isFinite(frameRate) || frameRate <= 0)) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `TaskManager.run: frameRate must be a positive finite number, got ${describeValue(frameRate)}`,
      );
    }
    const wakeOn = options.wakeOn;
    if (wakeOn !== undefined && typeof (wakeOn as Partial<ReaderWaiter> | null)?.waitForReaders !== 'function') {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `TaskManager.run: wakeOn must have waitForReaders (a QueuedConnectionManager), got ${describeValue(wakeOn)}`,
      );
    }
    const fixedRate = options.fixedRate;
    if (fixedRate !== undefined && (typeof fixedRate !== 'number' || !Number.isFinite(fixedRate) || fixedRate <= 0)) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `TaskManager.run: fixedRate must be a positive finite number, got ${describeValue(fixedRate)}`,
      );
    }
    const maxCatchUp = options.maxCatchUpSteps;
    if (maxCatchUp !== undefined && (typeof maxCatchUp !== 'number' || !Number.isInteger(maxCatchUp) || maxCatchUp < 1)) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `TaskManager.run: maxCatchUpSteps must be a whole number >= 1, got ${describeValue(maxCatchUp)}`,
      );
    }
    if (fixedRate === undefined && maxCatchUp !== undefined) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, 'TaskManager.run: maxCatchUpSteps is for fixed-step mode: give fixedRate too');
    }
    if (fixedRate !== undefined && (frameRate !== undefined || wakeOn !== undefined)) {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `TaskManager.run: fixedRate runs every frame on its own grid; it does not combine with ${frameRate !== undefined ? 'frameRate' : 'wakeOn'} (poll the reader from a task, once per step)`,
      );
    }
    this.waker = wakeOn ?? null;
    this.running = true;
    this.stopRequested = false;
    this.period = frameRate === undefined ? 0 : 1 / frameRate;
    this.targetAt = this.clock();
    this.gridAt = this.targetAt - this.period;
    this.fixedDt = fixedRate === undefined ? 0 : 1 / fixedRate;
    this.gridOrigin = this.targetAt;
    this.nextStep = 0;
    this.maxCatchUp = maxCatchUp ?? DEFAULT_MAX_CATCH_UP;
    return new Promise<void>((resolve, reject) => {
      this.settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
      this.immediate = setImmediate(this.onWake);
    });
  }

  /**
   * Ends {@link run}: its promise resolves after the frame in progress (at once when it
   * is waiting between frames). Does nothing when run() is not running.
   */
  stop(): void {
    if (!this.running) return;
    this.stopRequested = true;
    if (!this.inRunFrame) this.finish();
  }

  /** True while run() is looping. */
  isRunning(): boolean {
    return this.running;
  }

  // ── internals ─────────────────────────────────────────────────────────────

  /** One turn of run(): step a frame if it is time, then schedule the next turn. */
  private wake(): void {
    this.timer = null;
    this.immediate = null;
    if (this.stopRequested || this.tasks.length === 0) return this.finish();
    if (this.fixedDt > 0) return this.wakeFixed();
    const now = this.clock();
    const dataFrame = this.dataFrame;
    this.dataFrame = false;
    // Timers may fire a little early against our clock: then wait out the rest, do not step.
    if (dataFrame || now + EARLY_TOLERANCE >= this.targetAt) {
      // Fell more than a frame behind: restart the grid rather than run a burst of frames.
      // A frame data brought runs off the grid and leaves it where it was.
      if (!dataFrame) this.gridAt = now - this.targetAt > this.period ? now : this.targetAt;
      this.inRunFrame = true;
      try {
        this.runFrame(now, Number.isNaN(this.lastFrameAt) ? 0 : now - this.lastFrameAt);
      } catch (error) {
        this.inRunFrame = false;
        return this.finish(error ?? new RingwireError(ErrorCode.TASK_FAILED, 'a task threw a nullish value'));
      }
      this.inRunFrame = false;
      if (this.stopRequested || this.tasks.length === 0) return this.finish();
      this.targetAt = this.period > 0 ? Math.max(this.earliestWake(), this.gridAt + this.period) : this.earliestWake(this.clock());
    }
    this.scheduleWake();
  }

  /**
   * One turn of run() in fixed-step mode: run the next grid point's step if it is due
   * (skipping the oldest ones past the catch-up bound), then schedule the next turn: at
   * once while steps are still due, else a timer for the next grid point.
   */
  private wakeFixed(): void {
    const dt = this.fixedDt;
    const now = this.clock() + EARLY_TOLERANCE;
    if (now >= this.gridOrigin + this.nextStep * dt) {
      // Grid points due by now: nextStep .. lastDue. Multiplying (not adding dt step by
      // step) keeps the grid exact over hours.
      const lastDue = Math.floor((now - this.gridOrigin) / dt);
      const behind = lastDue - this.nextStep + 1;
      if (behind > this.maxCatchUp) {
        this.stepsSkipped += behind - this.maxCatchUp;
        this.nextStep += behind - this.maxCatchUp;
      }
      const stepAt = this.gridOrigin + this.nextStep * dt;
      this.nextStep++;
      this.stepsRun++;
      this.inRunFrame = true;
      try {
        this.runFrame(stepAt, dt);
      } catch (error) {
        this.inRunFrame = false;
        return this.finish(error ?? new RingwireError(ErrorCode.TASK_FAILED, 'a task threw a nullish value'));
      }
      this.inRunFrame = false;
      if (this.stopRequested || this.tasks.length === 0) return this.finish();
    }
    this.targetAt = this.gridOrigin + this.nextStep * dt;
    this.scheduleWake();
  }

  /**
   * The earliest time a live task is due. With wakeOn and no frame rate, a task that runs
   * every frame does not make the next one due (data does): only delayed tasks count.
   */
  private earliestWake(now = -Infinity): number {
    const after = this.waker !== null && this.period === 0 ? now : -Infinity;
    let at = Infinity;
    const tasks = this.tasks;
    for (let i = 0; i < tasks.length; i++) {
      const wakeAt = tasks[i]._wakeAt;
      if (wakeAt < at && wakeAt > after) at = wakeAt;
    }
    return at;
  }

  /** A task added while run() waits between frames may be due before the planned wake-up. */
  private wakeEarlierFor(task: Task): void {
    if (this.fixedDt > 0) return; // it runs at the next grid point, which is planned already
    const at = this.period > 0 ? Math.max(task._wakeAt, this.gridAt + this.period) : task._wakeAt;
    if (at >= this.targetAt) return;
    this.targetAt = at;
    this.cancelWake();
    this.scheduleWake();
  }

  /** run() ends when the last task is removed from outside a frame. */
  private endRunIfEmpty(): void {
    if (this.running && !this.inRunFrame && this.tasks.length === 0) this.finish();
  }

  private scheduleWake(): void {
    const delayMs = (this.targetAt - this.clock()) * 1000;
    if (delayMs <= 0) this.immediate = setImmediate(this.onWake);
    else if (this.waker !== null) this.waitForData(delayMs);
    else this.timer = setTimeout(this.onWake, Math.min(Math.ceil(delayMs), MAX_TIMER_MS));
  }

  /** Sleeps until data comes (a frame now) or `delayMs` passes (the planned frame). */
  private waitForData(delayMs: number): void {
    const controller = new AbortController();
    this.waiting = controller;
    const timeout = delayMs === Infinity ? -1 : delayMs / 1000;
    this.waker!.waitForReaders(timeout, { signal: controller.signal }).then(
      (got) => {
        if (this.waiting !== controller) return;
        this.waiting = null;
        // A frame at once, but through the event loop: data that keeps coming must not
        // keep sockets and timers from their turn.
        if (got) {
          this.dataFrame = true;
          this.immediate = setImmediate(this.onWake);
        } else if (this.clock() + EARLY_TOLERANCE >= this.targetAt) {
          this.wake();
        } else {
          // Resolved false before the planned frame: the manager closed (its waits resolve
          // false at once), or the wait's timer ran from the event loop's cached clock, which
          // lags performance.now() on a loaded machine. Either way the rest of the delay is a
          // plain timer, and the next sleep waits on the manager again. (Dropping the wakeOn
          // here turned a timer that fired a little early into a busy loop.)
          const restMs = (this.targetAt - this.clock()) * 1000;
          this.timer = setTimeout(this.onWake, Math.min(Math.ceil(restMs), MAX_TIMER_MS));
        }
      },
      (error: unknown) => {
        if (this.waiting !== controller) return;
        this.waiting = null;
        this.finish(error);
      },
    );
  }

  private cancelWake(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    if (this.waiting !== null) this.waiting.abort();
    this.timer = null;
    this.immediate = null;
    this.waiting = null;
    this.dataFrame = false;
  }

  private finish(error?: unknown): void {
    this.cancelWake();
    this.running = false;
    this.fixedDt = 0;
    this.stopRequested = false;
    const settle = this.settle;
    this.settle = null;
    settle?.(error);
  }

  /** Applies what a task returned. */
  private settleTask(task: Task, result: unknown, now: number): void {
    if (result === Task.cont) {
      task._wakeAt = now;
      return;
    }
    if (result === Task.done || result === undefined) {
      this.remove(task);
      return;
    }
    if (result === Task.again) {
      const delay = task.delayTime;
      if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
        this.remove(task);
        throw new RingwireRangeError(
          ErrorCode.INVALID_ARG_VALUE,
          `Task "${task.name}": delayTime must be a finite number >= 0 for Task.again, got ${describeValue(delay)}`,
        );
      }
      task._wakeAt = now + delay;
      return;
    }
    this.remove(task);
    if (isThenable(result)) {
      // The TypeError below is the report; keep the promise's own rejection from also
      // surfacing as an unhandled rejection.
      result.then(undefined, ignore);
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `Task "${task.name}" returned a Promise: tasks must be synchronous and return Task.cont, Task.done or Task.again (the task was removed)`,
      );
    }
    throw new RingwireTypeError(
      ErrorCode.INVALID_ARG_TYPE,
      `Task "${task.name}" returned ${describeValue(result)}: expected Task.cont, Task.done, Task.again or nothing (the task was removed)`,
    );
  }

  /** Inserts after every task with a sort <= task.sort, so equal sorts keep insertion order. */
  private insert(task: Task): void {
    const tasks = this.tasks;
    let lo = 0;
    let hi = tasks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (tasks[mid].sort <= task.sort) lo = mid + 1;
      else hi = mid;
    }
    tasks.splice(lo, 0, task);
  }

  private unlink(task: Task): void {
    task._alive = false;
    const index = this.tasks.indexOf(task);
    if (index >= 0) this.tasks.splice(index, 1);
  }
}

/** How early (seconds) a timer may fire and still count as on time. */
const EARLY_TOLERANCE = 0.0005;
/** Fixed-step mode's default bound on steps run back to back to catch up. */
const DEFAULT_MAX_CATCH_UP = 5;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 0x7fffffff;

function defaultClock(): number {
  return performance.now() / 1000;
}

function ignore(): void {}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function checkFunction(what: string, fn: unknown): void {
  if (typeof fn !== 'function') {
    throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `${what}: fn must be a function, got ${describeValue(fn)}`);
  }
  const kind = (fn as { constructor?: { name?: string } }).constructor?.name;
  if (kind === 'AsyncFunction' || kind === 'AsyncGeneratorFunction' || kind === 'GeneratorFunction') {
    throw new RingwireTypeError(
      ErrorCode.INVALID_ARG_TYPE,
      `${what}: ${fn.name || 'fn'} is ${kind === 'AsyncFunction' ? 'an async function' : 'a generator function'}; tasks must be synchronous and return Task.cont, Task.done or Task.again`,
    );
  }
}

function checkDelay(what: string, delay: unknown): void {
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `${what} must be a finite number of seconds >= 0, got ${describeValue(delay)}`);
  }
}
