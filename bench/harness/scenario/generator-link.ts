/**
 * How the coordinator runs a generator: in this process, or as a child process over IPC
 * (`--processes N`; the child is this command's hidden `generator` subcommand). A link
 * hands the generator its plan, passes on its ticks, and resolves its final result, or
 * null when the generator vanished (its last tick then stands for what it measured).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadScenario } from './load-scenario.js';
import { type GeneratorPlan, type GeneratorResult, type GeneratorTick, ScenarioGenerator, toWire } from './scenario-generator.js';

export interface LinkHooks {
  onTick(tick: GeneratorTick): void;
  signal: AbortSignal;
}

export interface GeneratorLink {
  /** Names the generator in messages ("process 2", "agent host-a"). */
  readonly name: string;
  run(plan: GeneratorPlan, hooks: LinkHooks): Promise<GeneratorResult | null>;
}

/** The generator runs in this process. */
export class LocalLink implements GeneratorLink {
  readonly name = 'this process';
  constructor(private readonly file: string) {}

  async run(plan: GeneratorPlan, hooks: LinkHooks): Promise<GeneratorResult | null> {
    const scenario = await loadScenario(this.file);
    return new ScenarioGenerator(scenario, plan, { signal: hooks.signal, onTick: hooks.onTick }).run();
  }
}

/** Messages between the coordinator and a child generator. */
export type ChildMessage =
  | { type: 'tick'; tick: GeneratorTick }
  | { type: 'done'; result: GeneratorResult }
  | { type: 'failed'; message: string };
export type ParentMessage = { type: 'start'; file: string; plan: GeneratorPlan } | { type: 'abort' };

/** The compiled command (dist/cli.js), which the child runs as `generator`. */
const CLI = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/cli.js' : '../cli.js', import.meta.url));

/** The generator runs in a child process of this one. */
export class ChildLink implements GeneratorLink {
  readonly name: string;
  private child: ChildProcess | null = null;

  constructor(
    private readonly file: string,
    index: number,
  ) {
    this.name = `process ${index + 1}`;
  }

  run(plan: GeneratorPlan, hooks: LinkHooks): Promise<GeneratorResult | null> {
    return new Promise((resolve, reject) => {
      const child = fork(CLI, ['generator'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.child = child;
      let settled = false;
      const onAbort = (): void => {
        if (child.connected) child.send({ type: 'abort' } satisfies ParentMessage);
      };
      hooks.signal.addEventListener('abort', onAbort);
      const finish = (result: GeneratorResult | null, error?: Error): void => {
        if (settled) return;
        settled = true;
        hooks.signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(result);
      };
      child.on('message', (message: ChildMessage) => {
        if (message.type === 'tick') hooks.onTick(message.tick);
        else if (message.type === 'done') finish(message.result);
        else finish(null, new Error(`${this.name}: ${message.message}`));
      });
      child.once('exit', (code, signal) => {
        // A child that exits before its result has vanished: what it sent last stands.
        if (!settled) process.stderr.write(`ringwire-bench: ${this.name} ended (${signal ?? `exit ${code}`}) before its report; its last figures stand\n`);
        finish(null);
      });
      child.once('error', (error) => finish(null, error));
      child.send({ type: 'start', file: this.file, plan } satisfies ParentMessage);
      if (hooks.signal.aborted) onAbort();
    });
  }

  /** The child's pid (tests kill one). */
  get pid(): number | undefined {
    return this.child?.pid;
  }
}

/**
 * The child side: waits for its plan, runs it, sends a tick a second and its result, then
 * exits. An 'abort' message (the coordinator's Ctrl-C or a threshold's abortOnFail) ends
 * its run early with what it measured. Resolves the exit status.
 */
export function runChildGenerator(): Promise<number> {
  return new Promise((resolve) => {
    const controller = new AbortController();
    const send = (message: ChildMessage): void => {
      if (process.connected) process.send!(message);
    };
    // The coordinator handles signals; a Ctrl-C in the terminal reaches the children too.
    process.on('SIGINT', () => {});
    process.on('disconnect', () => controller.abort());
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'abort') {
        controller.abort();
        return;
      }
      void (async () => {
        try {
          const scenario = await loadScenario(message.file);
          const result = await new ScenarioGenerator(scenario, message.plan, { signal: controller.signal, onTick: (tick) => send({ type: 'tick', tick: toWire(tick) }) }).run();
          send({ type: 'done', result: toWire(result) });
          resolve(0);
        } catch (error) {
          send({ type: 'failed', message: (error as Error).message });
          resolve(1);
        } finally {
          process.disconnect?.();
        }
      })();
    });
  });
}
