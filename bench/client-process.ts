import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep, waitFor } from './net-table.js';

/** A message between a bench and its client process: `type` names it. */
export interface ClientMessage {
  type: string;
  [field: string]: unknown;
}

interface Waiter {
  type: string;
  resolve: (message: ClientMessage) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A load-generating client in its own process (bench/fixtures/<name>), talked to over the
 * IPC channel. From the TypeScript sources the fixture runs through tsx; compiled, it is
 * the .js file beside this one.
 */
export class ClientProcess {
  private readonly inbox: ClientMessage[] = [];
  private readonly waiters: Waiter[] = [];
  private exitCode: number | null | undefined = undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message: ClientMessage) => this.receive(message));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal === null ? null : -1);
        const error = new Error(`${name} exited (code ${String(code)}, signal ${String(signal)})`);
        for (const waiter of this.waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(error);
        }
        resolve();
      });
    });
  }

  /** Starts bench/fixtures/`name` with `args`. */
  static start(name: string, args: string[]): ClientProcess {
    const fromSources = import.meta.url.endsWith('.ts');
    const file = fileURLToPath(new URL(`./fixtures/${name}${fromSources ? '.ts' : '.js'}`, import.meta.url));
    const execArgv = fromSources ? ['--import', import.meta.resolve('tsx')] : [];
    const child = fork(file, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new ClientProcess(name, child);
  }

  /** Sends `message` to the client. */
  send(message: ClientMessage): void {
    if (this.exitCode === undefined && this.child.connected) this.child.send(message);
  }

  /** The next message of `type` (earlier ones of that type first); rejects after `timeoutMs` or when the client exits. */
  next(type: string, timeoutMs: number): Promise<ClientMessage> {
    const at = this.inbox.findIndex((message) => message.type === type);
    if (at >= 0) return Promise.resolve(this.inbox.splice(at, 1)[0]);
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} has exited`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        type,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new Error(`${this.name}: no '${type}' message within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends `message` and waits for the reply of type `replyType`. */
  request(message: ClientMessage, replyType: string, timeoutMs: number): Promise<ClientMessage> {
    const reply = this.next(replyType, timeoutMs);
    this.send(message);
    return reply;
  }

  /**
   * Once the server has seen all `connected` connections (`serverConnected()`), starts the
   * clients' traffic and lets it run `warmupSeconds`. Throws, naming `what`, when the
   * server does not see them all within 10 s.
   */
  async startTraffic(what: string, serverConnected: () => number, connected: number, warmupSeconds: number): Promise<void> {
    if (!(await waitFor(() => serverConnected() >= connected, 10_000))) {
      throw new Error(`${what}: the server saw ${serverConnected()} of ${connected} connections`);
    }
    this.send({ type: 'start' });
    await sleep(warmupSeconds * 1000);
  }

  /**
   * Stops the clients' traffic once every socket has flushed, then waits up to `timeoutMs`
   * for the server to have received (`delivered()`) all of it; returns how many datagrams
   * the clients sent in all.
   */
  async stopTraffic(delivered: () => number, timeoutMs: number): Promise<number> {
    const stopped = await this.request({ type: 'stop' }, 'stopped', 10_000);
    const sentTotal = stopped.sent as number;
    await waitFor(() => delivered() >= sentTotal, timeoutMs);
    return sentTotal;
  }

  /** Asks the client to exit, waits up to `timeoutMs`, then kills it. Safe to call twice. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.send({ type: 'exit' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const exitedInTime = await Promise.race([this.exited.then(() => true), timeout]);
    clearTimeout(timer);
    if (!exitedInTime) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  private receive(message: ClientMessage): void {
    const at = this.waiters.findIndex((waiter) => waiter.type === message.type);
    if (at < 0) {
      this.inbox.push(message);
      return;
    }
    const [waiter] = this.waiters.splice(at, 1);
    clearTimeout(waiter.timer);
    waiter.resolve(message);
  }
}

/** Datagrams/s the clients sent between two 'mark' replies, by the client process's clock. */
export function offeredPerSec(m0: ClientMessage, m1: ClientMessage): number {
  return (((m1.sent as number) - (m0.sent as number)) * 1000) / ((m1.at as number) - (m0.at as number));
}
