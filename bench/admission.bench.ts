/**
 * What a connection attempt costs the main thread: one the per-address limit rejects,
 * beside one that is accepted and handed to a worker shard, beside a bare node:net server
 * that destroys every socket (the floor Node's accept itself costs).
 *
 *   npm run bench:admission -- [--attempts 5000] [--concurrency 100] [--rounds 3]
 *
 * A child process (bench/fixtures/connect-flood.mjs) opens --attempts connections from
 * 127.0.0.2, --concurrency at a time, and drops each as soon as it connects. Main-thread
 * CPU is the thread's own clock (CLOCK_THREAD_CPUTIME_ID, the native helper), less what the
 * idle loop costs over the same time, divided by the attempts. Rounds alternate the three
 * servers; the table gives each one's median.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ConnectionWriter,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
} from '../src/index.js';
import { loadFdHelper } from '../src/shared/fd-helper.js';

const { values } = parseArgs({
  options: {
    attempts: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
  },
});
const attempts = Number(values.attempts);
const helper = loadFdHelper();
if (helper === null) throw new Error('the native helper is not built (npm install): it gives the thread CPU clock');
const FLOOD = resolve(import.meta.dirname, 'fixtures/connect-flood.mjs');

interface Server {
  port: number;
  /** Connection attempts the server has handled so far (accepted, rejected or destroyed). */
  seen(): number;
  close(): Promise<void>;
}

function flood(port: number): Promise<{ connected: number; failed: number; seconds: number }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [FLOOD, String(port), '127.0.0.2', String(attempts), values.concurrency], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk));
    child.once('exit', (code) => (code === 0 ? done(JSON.parse(out)) : fail(new Error(`the flood exited with ${code}`))));
  });
}

/** A ringwire server; `limit` holds one connection from 127.0.0.2 so that every attempt is over it. */
async function ringwire(limit: boolean): Promise<Server> {
  const manager = new QueuedConnectionManager(limit ? { maxConnectionsPerAddress: 1 } : {});
  const listener = new QueuedConnectionListener(manager, 0);
  const reader = new QueuedConnectionReader(manager, 2);
  new ConnectionWriter(manager, 2);
  const rendezvous = (await manager.openTCPServerRendezvous('127.0.0.1', 0, 4096))!;
  listener.addConnection(rendezvous);
  const port = rendezvous.getAddress().getPort();
  const ptr = new PointerToConnection();
  const stop = new AbortController();
  let taken = 0;
  // The game loop's part: take each new client (and close it: the flood drops it anyway).
  void (async () => {
    while (!stop.signal.aborted) {
      while (listener.getNewConnection(ptr)) {
        taken++;
        if (limit) reader.addConnection(ptr.p()!);
        else manager.closeConnection(ptr.p()!);
      }
      while (manager.getResetConnection(ptr));
      await manager.waitForReaders(-1, { signal: stop.signal }).catch(() => false);
    }
  })();
  let held: net.Socket | null = null;
  if (limit) {
    held = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    await new Promise((done) => held!.once('connect', done));
    while (manager.getStats().connections < 1) await new Promise((done) => setTimeout(done, 10));
  }
  return {
    port,
    seen: () => (limit ? manager.getStats().rejectedPerAddress : taken),
    async close() {
      held?.destroy();
      stop.abort();
      await manager.close();
    },
  };
}

async function bare(): Promise<Server> {
  let seen = 0;
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    seen++;
    socket.destroy();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', 4096, done));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen: () => seen,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** Main-thread µs per attempt against `server`, the idle loop's CPU taken off. */
async function measure(make: () => Promise<Server>): Promise<number> {
  const server = await make();
  try {
    await flood(server.port); // warm-up
    const idleStart = helper!.threadCpuMs();
    const idleWall = performance.now();
    await new Promise((done) => setTimeout(done, 300));
    const idlePerMs = (helper!.threadCpuMs() - idleStart) / (performance.now() - idleWall);
    const target = server.seen() + attempts;
    const cpu = helper!.threadCpuMs();
    const wall = performance.now();
    await flood(server.port);
    // The flood ends when its connects are done; the server may still have accepts queued.
    // Wait for all of them, or until the count stands still for 200 ms (a client reset
    // before its accept leaves no count).
    let last = -1;
    let stillSince = Date.now();
    while (server.seen() < target && Date.now() - stillSince < 200) {
      if (server.seen() !== last) {
        last = server.seen();
        stillSince = Date.now();
      }
      await new Promise((done) => setTimeout(done, 5));
    }
    const used = helper!.threadCpuMs() - cpu - idlePerMs * (performance.now() - wall);
    return (used * 1000) / attempts;
  } finally {
    await server.close();
  }
}

const results: Record<string, number[]> = { 'node:net, destroy each (floor)': [], 'ringwire, rejected per address': [], 'ringwire, accepted and handed over': [] };
for (let round = 0; round < Number(values.rounds); round++) {
  results['node:net, destroy each (floor)'].push(await measure(bare));
  results['ringwire, rejected per address'].push(await measure(() => ringwire(true)));
  results['ringwire, accepted and handed over'].push(await measure(() => ringwire(false)));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rejected = median(results['ringwire, rejected per address']);
console.log(`${attempts} attempts from one address, ${values.concurrency} at a time; main-thread µs per attempt (median of ${values.rounds})`);
for (const [name, xs] of Object.entries(results)) {
  const m = median(xs);
  console.log(`  ${name.padEnd(36)} ${m.toFixed(1).padStart(6)} µs   ${(m / rejected).toFixed(2)}× the rejected one   [${xs.map((x) => x.toFixed(1)).join(', ')}]`);
}
