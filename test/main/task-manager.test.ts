import { describe, expect, it } from 'vitest';
import { QueuedConnectionManager, Task, TaskManager } from '../../src/index.js';
import { pollUntil } from '../helpers/net-harness.js';

/** A clock the test moves by hand, in seconds. */
function fakeClock(): { now: () => number; advance: (seconds: number) => void } {
  let t = 100;
  return { now: () => t, advance: (seconds) => (t += seconds) };
}

/** Resolves `promise`, or rejects when it has not settled within `ms` (a deadline, not a sleep). */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describe('Task', () => {
  it('has Panda3D-style status constants', () => {
    expect(Task.done).toBe(0);
    expect(Task.cont).toBe(1);
    expect(Task.again).toBe(2);
  });
});

describe('TaskManager.step', () => {
  it('runs tasks in ascending sort, ties in insertion order', () => {
    const mgr = new TaskManager();
    const order: string[] = [];
    const track = (label: string) => () => {
      order.push(label);
      return Task.cont;
    };
    mgr.add(track('b0'), 'b0', 0);
    mgr.add(track('late'), 'late', 10);
    mgr.add(track('early'), 'early', -40);
    mgr.add(track('b1'), 'b1', 0);
    mgr.add(track('mid'), 'mid', -39);
    mgr.add(track('b2'), 'b2');
    mgr.step();
    expect(order).toEqual(['early', 'mid', 'b0', 'b1', 'b2', 'late']);
    expect(mgr.getTasks().map((t) => t.name)).toEqual(order);
  });

  it('cont keeps a task, done and undefined remove it', () => {
    const mgr = new TaskManager();
    const runs = { cont: 0, done: 0, none: 0 };
    mgr.add(() => {
      runs.cont++;
      return Task.cont;
    }, 'cont');
    mgr.add(() => {
      runs.done++;
      return Task.done;
    }, 'done');
    mgr.add(() => {
      runs.none++;
    }, 'none');
    mgr.step();
    mgr.step();
    mgr.step();
    expect(runs).toEqual({ cont: 3, done: 1, none: 1 });
    expect(mgr.hasTaskNamed('cont')).toBe(true);
    expect(mgr.hasTaskNamed('done')).toBe(false);
    expect(mgr.hasTaskNamed('none')).toBe(false);
  });

  it('gives each task its name, time since it was added and frame count', () => {
    const clock = fakeClock();
    const mgr = new TaskManager({ clock: clock.now });
    const seen: { name: string; time: number; frame: number }[] = [];
    const task = mgr.add((t) => {
      seen.push({ name: t.name, time: t.time, frame: t.frame });
      return Task.cont;
    }, 'watch');
    expect(task.getName()).toBe('watch');
    mgr.step();
    clock.advance(0.5);
    mgr.step();
    clock.advance(0.25);
    mgr.step();
    expect(seen).toEqual([
      { name: 'watch', time: 0, frame: 0 },
      { name: 'watch', time: 0.5, frame: 1 },
      { name: 'watch', time: 0.75, frame: 2 },
    ]);
    expect(mgr.frameCount).toBe(3);
  });

  it('names a task after its function when no name is given', () => {
    const mgr = new TaskManager();
    function pollTheReader(): number {
      return Task.cont;
    }
    expect(mgr.add(pollTheReader).name).toBe('pollTheReader');
  });

  it('again with delayTime 0 runs next frame; with a delay, once that time has passed', () => {
    const clock = fakeClock();
    const mgr = new TaskManager({ clock: clock.now });
    let fast = 0;
    let slow = 0;
    mgr.add(() => {
      fast++;
      return Task.again;
    }, 'fast');
    mgr.add((t) => {
      slow++;
      t.delayTime = 1;
      return Task.again;
    }, 'slow');
    mgr.step(); // both run; slow sleeps until +1 s
    clock.advance(0.4);
    mgr.step();
    clock.advance(0.4);
    mgr.step();
    expect([fast, slow]).toEqual([3, 1]);
    clock.advance(0.2); // +1.0 s: due
    mgr.step();
    expect([fast, slow]).toEqual([4, 2]);
  });

  it('doMethodLater waits for its delay, then repeats at that interval with again', () => {
    const clock = fakeClock();
    const mgr = new TaskManager({ clock: clock.now });
    const times: number[] = [];
    const task = mgr.doMethodLater(
      2,
      (t) => {
        times.push(t.time);
        return times.length < 3 ? Task.again : Task.done;
      },
      'later',
    );
    expect(task.delayTime).toBe(2);
    mgr.step();
    clock.advance(1.999);
    mgr.step();
    expect(times).toEqual([]);
    clock.advance(0.001);
    mgr.step();
    clock.advance(2);
    mgr.step();
    clock.advance(2);
    mgr.step();
    clock.advance(2);
    mgr.step();
    expect(times.map((t) => Math.round(t * 1000) / 1000)).toEqual([2, 4, 6]);
    expect(task.isAlive()).toBe(false);
  });

  it('add with options.delay defers the first run', () => {
    const clock = fakeClock();
    const mgr = new TaskManager({ clock: clock.now });
    let runs = 0;
    mgr.add(() => void runs++, 'deferred', 0, { delay: 0.5 });
    mgr.step();
    expect(runs).toBe(0);
    clock.advance(0.5);
    mgr.step();
    expect(runs).toBe(1);
  });

  it('tasks added during a frame first run in the next frame', () => {
    const mgr = new TaskManager();
    const order: string[] = [];
    mgr.add(() => {
      order.push('parent');
      if (!mgr.hasTaskNamed('child')) {
        mgr.add(
          (t) => {
            order.push(`child@${t.frame}`);
            return Task.cont;
          },
          'child',
          100,
        );
      }
      return Task.cont;
    }, 'parent');
    mgr.step();
    expect(order).toEqual(['parent']);
    mgr.step();
    expect(order).toEqual(['parent', 'parent', 'child@0']);
  });

  it('remove by name removes every task with it and returns the count', () => {
    const mgr = new TaskManager();
    let runs = 0;
    const body = (): number => {
      runs++;
      return Task.cont;
    };
    mgr.add(body, 'poll');
    mgr.add(body, 'poll');
    const other = mgr.add(body, 'other');
    expect(mgr.getTasksNamed('poll')).toHaveLength(2);
    expect(mgr.remove('poll')).toBe(2);
    expect(mgr.remove('poll')).toBe(0);
    expect(mgr.hasTaskNamed('poll')).toBe(false);
    expect(mgr.remove(other)).toBe(1);
    expect(other.remove()).toBe(false);
    mgr.step();
    expect(runs).toBe(0);
  });

  it('a task removed during a frame does not run later in that frame', () => {
    const mgr = new TaskManager();
    const order: string[] = [];
    mgr.add(
      () => {
        order.push('first');
        mgr.remove('second');
        return Task.cont;
      },
      'first',
      0,
    );
    mgr.add(
      () => {
        order.push('second');
        return Task.cont;
      },
      'second',
      1,
    );
    mgr.step();
    mgr.step();
    expect(order).toEqual(['first', 'first']);
  });

  it('a throwing task propagates out of step, skips the rest of the frame and stays scheduled', () => {
    const mgr = new TaskManager();
    let after = 0;
    mgr.add(
      () => {
        throw new Error('boom');
      },
      'bad',
      0,
    );
    mgr.add(
      () => {
        after++;
        return Task.cont;
      },
      'after',
      1,
    );
    expect(() => mgr.step()).toThrow('boom');
    expect(after).toBe(0);
    expect(mgr.hasTaskNamed('bad')).toBe(true);
    mgr.remove('bad');
    mgr.step();
    expect(after).toBe(1);
  });

  it('rejects what is not a synchronous task function', () => {
    const mgr = new TaskManager();
    expect(() => mgr.add(42 as never, 'n')).toThrow(TypeError);
    expect(() => mgr.add(42 as never, 'n')).toThrow(/fn must be a function, got 42/);
    expect(() => mgr.add((async () => Task.cont) as never, 'async')).toThrow(/async function/);
    expect(() => mgr.add(() => Task.cont, 7 as never)).toThrow(/name must be a string/);
    expect(() => mgr.add(() => Task.cont, 'x', Number.NaN)).toThrow(RangeError);
    expect(() => mgr.doMethodLater(-1, () => Task.cont, 'x')).toThrow(/delaySeconds must be a finite number/);
    expect(() => mgr.remove(3 as never)).toThrow(TypeError);
    expect(mgr.getTasks()).toHaveLength(0);
  });

  it('a task that returns a Promise throws a TypeError from step and is removed', () => {
    const mgr = new TaskManager();
    // Not an `async` function, so add() cannot tell: step() catches it when it returns.
    mgr.add((() => Promise.resolve(Task.cont)) as never, 'sneaky');
    expect(() => mgr.step()).toThrow(/returned a Promise: tasks must be synchronous/);
    expect(mgr.hasTaskNamed('sneaky')).toBe(false);
  });

  it('a task that returns something else throws a TypeError and is removed', () => {
    const mgr = new TaskManager();
    mgr.add((() => 'yes') as never, 'odd');
    expect(() => mgr.step()).toThrow(/returned "yes" \(string\): expected Task.cont/);
    expect(mgr.hasTaskNamed('odd')).toBe(false);
  });

  it('refuses to step from inside a task', () => {
    const mgr = new TaskManager();
    mgr.add(() => {
      mgr.step();
      return Task.cont;
    }, 'nested');
    expect(() => mgr.step()).toThrow(/from inside a task/);
  });
});

describe('TaskManager.run', () => {
  it('runs until no task remains', async () => {
    const mgr = new TaskManager();
    let runs = 0;
    mgr.add(() => (++runs < 5 ? Task.cont : Task.done), 'five');
    await withDeadline(mgr.run(), 5000, 'run');
    expect(runs).toBe(5);
    expect(mgr.isRunning()).toBe(false);
  });

  it('yields to the event loop between frames', async () => {
    const mgr = new TaskManager();
    let ioTurns = 0;
    let frames = 0;
    const ticker = setInterval(() => ioTurns++, 1);
    try {
      mgr.add(() => (++frames < 100_000 && ioTurns < 3 ? Task.cont : Task.done), 'spin');
      await withDeadline(mgr.run(), 5000, 'run');
    } finally {
      clearInterval(ticker);
    }
    expect(ioTurns).toBeGreaterThanOrEqual(3);
  });

  it('stop() from outside ends the run promptly, even while waiting for a timer', async () => {
    const mgr = new TaskManager();
    let runs = 0;
    mgr.doMethodLater(3600, () => void runs++, 'in-an-hour');
    const running = mgr.run();
    expect(mgr.isRunning()).toBe(true);
    setImmediate(() => mgr.stop());
    await withDeadline(running, 2000, 'run after stop');
    expect(runs).toBe(0);
    expect(mgr.hasTaskNamed('in-an-hour')).toBe(true);
  });

  it('stop() from a task finishes that frame, then ends the run', async () => {
    const mgr = new TaskManager();
    const order: string[] = [];
    mgr.add(
      () => {
        order.push('stopper');
        mgr.stop();
        return Task.cont;
      },
      'stopper',
      0,
    );
    mgr.add(
      () => {
        order.push('after');
        return Task.cont;
      },
      'after',
      1,
    );
    await withDeadline(mgr.run(), 2000, 'run');
    expect(order).toEqual(['stopper', 'after']);
    expect(mgr.getTasks()).toHaveLength(2);
  });

  it('caps the frame rate with timers', async () => {
    const mgr = new TaskManager();
    const started = performance.now();
    let frames = 0;
    mgr.add(() => {
      frames++;
      return Task.cont;
    }, 'count');
    const running = mgr.run({ frameRate: 60 });
    const stopper = setTimeout(() => mgr.stop(), 500);
    try {
      await withDeadline(running, 5000, 'run at 60 Hz');
    } finally {
      clearTimeout(stopper);
    }
    const seconds = (performance.now() - started) / 1000;
    const rate = frames / seconds;
    // ~60 frames/s; a busy loop would make tens of thousands. Loose bounds for slow CI.
    expect(frames).toBeGreaterThan(5);
    expect(rate).toBeLessThan(75);
    expect(rate).toBeGreaterThan(10);
  });

  it('sleeps until the earliest doMethodLater task instead of spinning', async () => {
    const mgr = new TaskManager();
    const started = performance.now();
    let ranAfter = 0;
    mgr.doMethodLater(
      0.05,
      () => {
        ranAfter = performance.now() - started;
      },
      'later',
    );
    await withDeadline(mgr.run(), 5000, 'run');
    expect(ranAfter).toBeGreaterThanOrEqual(45);
    // A spinning loop would have stepped thousands of empty frames in 50 ms.
    expect(mgr.frameCount).toBeLessThanOrEqual(3);
  });

  it('a task added while run() sleeps is run without waiting for the sleeper', async () => {
    const mgr = new TaskManager();
    mgr.doMethodLater(3600, () => Task.done, 'sleeper');
    const running = mgr.run();
    let ran = false;
    setImmediate(() =>
      mgr.add(() => {
        ran = true;
        mgr.stop();
      }, 'newcomer'),
    );
    await withDeadline(running, 2000, 'run');
    expect(ran).toBe(true);
  });

  it('removing the last task from outside ends the run', async () => {
    const mgr = new TaskManager();
    mgr.doMethodLater(3600, () => Task.done, 'sleeper');
    const running = mgr.run();
    setImmediate(() => mgr.remove('sleeper'));
    await withDeadline(running, 2000, 'run');
  });

  it('rejects with the error of a task that throws', async () => {
    const mgr = new TaskManager();
    let runs = 0;
    mgr.add(() => {
      if (++runs === 3) throw new Error('task failed on frame 3');
      return Task.cont;
    }, 'flaky');
    await expect(withDeadline(mgr.run(), 2000, 'run')).rejects.toThrow('task failed on frame 3');
    expect(mgr.isRunning()).toBe(false);
  });

  it('rejects with a TypeError when a task returns a Promise', async () => {
    const mgr = new TaskManager();
    mgr.add((() => Promise.reject(new Error('inner'))) as never, 'promised');
    await expect(withDeadline(mgr.run(), 2000, 'run')).rejects.toThrow(TypeError);
  });

  it('validates its options and refuses to run twice', async () => {
    const mgr = new TaskManager();
    expect(() => mgr.run({ frameRate: 0 })).toThrow(RangeError);
    expect(() => mgr.run({ frameRate: Number.POSITIVE_INFINITY })).toThrow(/frameRate must be a positive finite number/);
    mgr.add(() => Task.cont, 'forever');
    const running = mgr.run();
    expect(() => mgr.run()).toThrow(/already running/);
    mgr.stop();
    await withDeadline(running, 2000, 'run');
  });

  it("keeps sleeping on its wakeOn when a wait's timer fires before the planned frame by the loop's clock", async () => {
    // The loop's clock runs at 0.8× real time, as a timer that fires early by the clock would
    // look: each wait for a planned frame ends before it. That is a reason to sleep the rest,
    // never to drop the wakeOn (which turned a loop with an every-frame task into a spin).
    const manager = new QueuedConnectionManager();
    try {
      const tasks = new TaskManager({ clock: () => (performance.now() / 1000) * 0.8 });
      tasks.add(() => Task.cont, 'each frame');
      let later = 0;
      tasks.doMethodLater(
        0.1,
        () => {
          later++;
          return Task.again;
        },
        'every 0.1 s',
      );
      const running = tasks.run({ wakeOn: manager });
      // Three of the repeating task's frames (0.125 s apart in real time), however loaded
      // the machine: a frame for each, and none between them, where a loop that dropped its
      // wakeOn turns tens of thousands.
      await pollUntil(() => later >= 3, { timeoutMs: 10_000, label: 'three frames of the repeating task' });
      expect(tasks.frameCount).toBeLessThanOrEqual(3 * later + 3);
      tasks.stop();
      await withDeadline(running, 2000, 'run');
    } finally {
      await manager.close();
    }
  });

  it('a second run() while one runs throws and changes nothing: the loop keeps sleeping on its wakeOn', async () => {
    const manager = new QueuedConnectionManager();
    try {
      const tasks = new TaskManager();
      let inside: unknown = null;
      tasks.add(() => {
        if (inside === null) {
          try {
            tasks.run(); // from inside a frame, with no wakeOn
            inside = 'no error';
          } catch (error) {
            inside = error;
          }
        }
        return Task.cont;
      }, 'each frame');
      tasks.doMethodLater(0.2, () => Task.done, 'once, later');
      const running = tasks.run({ wakeOn: manager });
      await withDeadline(
        (async () => {
          while (tasks.frameCount < 1) await new Promise((resolve) => setImmediate(resolve));
        })(),
        2000,
        'the first frame',
      );
      expect(String(inside)).toMatch(/already running/);
      expect(() => tasks.run()).toThrow(/already running/);
      expect(() => tasks.run({ frameRate: 1000 })).toThrow(/already running/);
      // Nothing comes for 0.5 s (a second wait on the same manager says so): a frame or two
      // more, for the delayed task (a timer may wake the loop just before it is due), where
      // a loop that lost its wakeOn would turn thousands.
      expect(await manager.waitForReaders(0.5)).toBe(false);
      expect(tasks.frameCount).toBeGreaterThanOrEqual(2);
      expect(tasks.frameCount).toBeLessThanOrEqual(4);
      tasks.stop();
      await withDeadline(running, 2000, 'run');
    } finally {
      await manager.close();
    }
  });

  it('resolves at once when there are no tasks', async () => {
    await withDeadline(new TaskManager().run(), 2000, 'run');
  });
});

describe('TaskManager.run in fixed-step mode', () => {
  it('step() gives each frame the clock since the previous one as dt', () => {
    const clock = fakeClock();
    const mgr = new TaskManager({ clock: clock.now });
    const dts: number[] = [];
    mgr.add((t) => {
      dts.push(t.dt);
      return Task.cont;
    }, 'watch');
    mgr.step();
    clock.advance(0.5);
    mgr.step();
    clock.advance(0.25);
    mgr.step();
    expect(dts).toEqual([0, 0.5, 0.25]);
    expect(mgr.getDt()).toBe(0.25);
    expect(mgr.stepCount).toBe(0);
  });

  it('runs exactly one step of exactly 1/rate per grid point, and a bounded catch-up after a stall (fake clock)', async () => {
    const clock = fakeClock();
    const mgr = new TaskManager({ clock: clock.now });
    const dt = 1 / 50;
    const seen: { dt: number; time: number; step: number }[] = [];
    mgr.add((t) => {
      seen.push({ dt: t.dt, time: t.time, step: mgr.stepCount });
      return Task.cont;
    }, 'simulate');
    const running = mgr.run({ fixedRate: 50, maxCatchUpSteps: 3 });
    const steps = (n: number) => pollUntil(() => seen.length >= n, { timeoutMs: 5000, label: `${n} steps` });
    await steps(1); // the first grid point is the start of run()
    // The clock moves one step at a time: one step each, never 0 or 2.
    for (let k = 1; k <= 5; k++) {
      clock.advance(dt);
      await steps(k + 1);
      expect(seen.length).toBe(k + 1);
    }
    // A stall of 10 steps: 3 run back to back, the 7 older grid points are skipped.
    clock.advance(10 * dt);
    await steps(9);
    expect(seen.length).toBe(9);
    expect(mgr.skippedStepCount).toBe(7);
    clock.advance(dt);
    await steps(10);
    expect(seen.length).toBe(10);
    mgr.stop();
    await withDeadline(running, 5000, 'run');

    expect(seen.every((s) => s.dt === dt)).toBe(true);
    expect(seen.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // task.time is the grid's time: steps 0-5, then 13, 14, 15 (6-12 skipped), then 16.
    const gridPoints = seen.map((s) => Math.round(s.time / dt));
    expect(gridPoints).toEqual([0, 1, 2, 3, 4, 5, 13, 14, 15, 16]);
    for (const s of seen) expect(s.time).toBeCloseTo(Math.round(s.time / dt) * dt, 9);
    expect(mgr.stepCount).toBe(10);
    expect(mgr.getDt()).toBe(dt);
  });

  it('with the real clock, a frame that overruns skips what the catch-up bound leaves out, and the grid holds', async () => {
    const mgr = new TaskManager();
    const dt = 1 / 200;
    const times: number[] = [];
    let skippedBeforeStall = -1;
    mgr.add((t) => {
      times.push(t.time);
      expect(t.dt).toBe(dt);
      if (times.length === 10) {
        skippedBeforeStall = mgr.skippedStepCount;
        // Overrun by 30 ms (6 steps): at least 6 grid points are due at the next turn.
        const until = performance.now() + 30;
        while (performance.now() < until);
      }
      return times.length < 30 ? Task.cont : Task.done;
    }, 'simulate');
    await withDeadline(mgr.run({ fixedRate: 200, maxCatchUpSteps: 2 }), 10_000, 'run');
    expect(times.length).toBe(30);
    expect(mgr.stepCount).toBe(30);
    // At least 6 steps came due during the stall and at most 2 ran: 4 or more skipped.
    expect(mgr.skippedStepCount - skippedBeforeStall).toBeGreaterThanOrEqual(4);
    // Every step is a grid point, in order; run + skipped accounts for every grid point.
    // The task was added just before run(): its times are the grid's less that offset.
    const gridPoints = times.map((time) => (time - times[0]) / dt);
    for (const point of gridPoints) expect(Math.abs(point - Math.round(point))).toBeLessThan(1e-6);
    for (let i = 1; i < gridPoints.length; i++) expect(Math.round(gridPoints[i])).toBeGreaterThan(Math.round(gridPoints[i - 1]));
    expect(mgr.stepCount + mgr.skippedStepCount).toBe(Math.round(gridPoints.at(-1)!) + 1);
  });

  it('validates its options', () => {
    const mgr = new TaskManager();
    mgr.add(() => Task.cont, 'x');
    expect(() => mgr.run({ fixedRate: 0 })).toThrow(RangeError);
    expect(() => mgr.run({ fixedRate: Number.NaN })).toThrow(RangeError);
    expect(() => mgr.run({ fixedRate: 60, maxCatchUpSteps: 0 })).toThrow(RangeError);
    expect(() => mgr.run({ fixedRate: 60, maxCatchUpSteps: 1.5 })).toThrow(RangeError);
    expect(() => mgr.run({ maxCatchUpSteps: 3 })).toThrow(/give fixedRate too/);
    expect(() => mgr.run({ fixedRate: 60, frameRate: 60 })).toThrow(/does not combine with frameRate/);
    const manager = new QueuedConnectionManager();
    expect(() => mgr.run({ fixedRate: 60, wakeOn: manager })).toThrow(/does not combine with wakeOn/);
    expect(mgr.isRunning()).toBe(false);
  });
});
