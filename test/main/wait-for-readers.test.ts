/**
 * manager.waitForReaders (issue #10): Panda3D's wait_for_readers as a Promise. It resolves
 * true as soon as a datagram, a new client or a reset is there to take, false at its
 * timeout or when the manager closes, and a pending wait costs no CPU. Every wait here that
 * must be ended by an event has no timeout of its own: only that event can end it, and
 * `settlesWithin` turns a wait that never ends into a failure with a name.
 */
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { QueuedConnectionManager } from '../../src/main/api/queued-connection-manager.js';
import { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import { Task, TaskManager } from '../../src/main/api/task-manager.js';
import { HOST, Peer, type TestServer, closeAll, frame, onCleanup, pollUntil, startServer } from '../helpers/net-harness.js';

/** Rejects, naming `label`, when `promise` has not settled after `ms`. */
async function settlesWithin<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends one datagram on each peer and takes them all: the shards then run (they start with
 * the first connection, and a thread's start-up costs tens of ms of CPU), so a CPU
 * measurement after it sees the steady state, not the start.
 */
async function shardsRunning(server: TestServer, peers: Peer[]): Promise<void> {
  for (const peer of peers) await peer.write(frame([0]));
  let taken = 0;
  const dg = new NetDatagram();
  await pollUntil(
    () => {
      while (server.reader.getData(dg)) taken++;
      return taken === peers.length;
    },
    { label: 'a datagram through every peer' },
  );
}

/** True once `promise` has settled, tested after one turn of the event loop. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

afterEach(closeAll);

describe.each([0, 2])('waitForReaders (numThreads %i)', (n) => {
  it('resolves true when a datagram arrives, and the datagram is then there to take', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const wait = server.manager.waitForReaders(-1);
    expect(await isSettled(wait)).toBe(false);
    await peer.write(frame([7, 8, 9]));
    expect(await settlesWithin(wait, 5000, 'wait for a datagram')).toBe(true);
    const dg = new NetDatagram();
    expect(server.reader.getData(dg)).toBe(true);
    expect([...dg.getMessage()]).toEqual([7, 8, 9]);
    expect(dg.getConnection()).toBe(conn);
  });

  it('resolves true when a client connects', async () => {
    const server = await startServer(n);
    const wait = server.manager.waitForReaders(-1);
    expect(await isSettled(wait)).toBe(false);
    await Peer.connect(server.port);
    expect(await settlesWithin(wait, 5000, 'wait for a new client')).toBe(true);
    expect(server.listener.newConnectionAvailable()).toBe(true);
  });

  it('resolves true when a connection is reset', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    const conn = await server.accept();
    const wait = server.manager.waitForReaders(-1);
    expect(await isSettled(wait)).toBe(false);
    await peer.close();
    expect(await settlesWithin(wait, 5000, 'wait for a reset')).toBe(true);
    const ptr = new PointerToConnection();
    expect(server.manager.getResetConnection(ptr)).toBe(true);
    expect(ptr.p()).toBe(conn);
    expect(conn.getResetReason()).toBe('closed-by-peer');
  });

  it('resolves true when a UDP datagram arrives', async () => {
    const server = await startServer(n);
    const udp = (await server.manager.openUDPConnection(HOST, 0))!;
    expect(udp).not.toBeNull();
    expect(server.reader.addConnection(udp)).toBe(true);
    const wait = server.manager.waitForReaders(-1);
    expect(await isSettled(wait)).toBe(false);
    const sender = dgram.createSocket('udp4');
    onCleanup(() => new Promise<void>((resolve) => sender.close(() => resolve())));
    // Panda3D's UDP framing: a u16 checksum (the byte sum), then the payload.
    sender.send(Uint8Array.of(6, 0, 1, 2, 3), udp.getAddress().getPort(), HOST);
    expect(await settlesWithin(wait, 5000, 'wait for a UDP datagram')).toBe(true);
    const dg = new NetDatagram();
    expect(server.reader.getData(dg)).toBe(true);
    expect([...dg.getMessage()]).toEqual([1, 2, 3]);
  });

  it('resolves true at once when something is already there, without waiting for the timeout', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    await peer.write(frame([1]));
    await pollUntil(() => server.reader.dataAvailable(), { label: 'the datagram' });
    const wait = server.manager.waitForReaders(-1);
    expect(await isSettled(wait)).toBe(true);
    expect(await wait).toBe(true);
    // Looking (timeout 0) says the same, and takes nothing.
    expect(await server.manager.waitForReaders(0)).toBe(true);
    expect(server.reader.getData(new Datagram())).toBe(true);
    expect(await server.manager.waitForReaders(0)).toBe(false);
  });

  it('resolves false at its timeout when nothing came, and a connection that stays quiet does not end it', async () => {
    const server = await startServer(n);
    await Peer.connect(server.port);
    await server.accept();
    const started = performance.now();
    expect(await server.manager.waitForReaders(0.15)).toBe(false);
    // Timers may fire a little early against performance.now(); never much.
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(server.reader.dataAvailable()).toBe(false);
  });

  it('settles every pending wait together', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    const waits = [server.manager.waitForReaders(-1), server.manager.waitForReaders(30), server.manager.waitForReaders(-1)];
    await peer.write(frame([5]));
    expect(await settlesWithin(Promise.all(waits), 5000, 'three waits')).toEqual([true, true, true]);
  });

  it('wakes again for the next datagram after one was taken (a server loop)', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    const dg = new NetDatagram();
    for (let i = 0; i < 20; i++) {
      const wait = server.manager.waitForReaders(-1);
      await peer.write(frame([i]));
      expect(await settlesWithin(wait, 5000, `wait ${i}`)).toBe(true);
      expect(server.reader.getData(dg)).toBe(true);
      expect(dg.getMessage()[0]).toBe(i);
      expect(server.reader.dataAvailable()).toBe(false);
    }
  });

  it('close() settles a pending wait with false, and later waits resolve false', async () => {
    const server = await startServer(n);
    const wait = server.manager.waitForReaders(-1);
    expect(await isSettled(wait)).toBe(false);
    const closing = server.close();
    expect(await settlesWithin(wait, 5000, 'wait across close()')).toBe(false);
    await closing;
    expect(await server.manager.waitForReaders(-1)).toBe(false);
  });

  it('an aborted wait rejects with the signal reason and leaves the others waiting', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    const controller = new AbortController();
    const aborted = server.manager.waitForReaders(-1, { signal: controller.signal });
    const other = server.manager.waitForReaders(-1);
    controller.abort(new Error('stop waiting'));
    await expect(aborted).rejects.toThrow('stop waiting');
    expect(await isSettled(other)).toBe(false);
    await peer.write(frame([1]));
    expect(await settlesWithin(other, 5000, 'the other wait')).toBe(true);
    await expect(server.manager.waitForReaders(-1, { signal: controller.signal })).rejects.toThrow('stop waiting');
  });

  it('a pending wait costs no CPU: the process is idle while it waits a second', async () => {
    // Measured in a process of its own: the test runner's own threads (its RPC, its other
    // files' garbage) use several ms a second in this one, which is not ringwire's.
    const script = `
      import net from 'node:net';
      import * as r from ${JSON.stringify(pathToFileURL(resolve(import.meta.dirname, '../../dist/index.js')).href)};
      const manager = new r.QueuedConnectionManager();
      const listener = new r.QueuedConnectionListener(manager, 0);
      const reader = new r.QueuedConnectionReader(manager, ${n});
      const rendezvous = await manager.openTCPServerRendezvous('127.0.0.1', 0, 16);
      listener.addConnection(rendezvous);
      const peers = await Promise.all(Array.from({ length: 10 }, () => new Promise((ok) => {
        const socket = net.connect(rendezvous.getAddress().getPort(), '127.0.0.1', () => ok(socket));
      })));
      const ptr = new r.PointerToConnection();
      for (let accepted = 0; accepted < peers.length; ) {
        await manager.waitForReaders(5);
        while (listener.getNewConnection(ptr)) { reader.addConnection(ptr.p()); accepted++; }
      }
      // A datagram through every peer: the shards run before anything is measured.
      for (const socket of peers) socket.write(Uint8Array.of(1, 0, 7));
      const dg = new r.NetDatagram();
      for (let taken = 0; taken < peers.length; ) {
        await manager.waitForReaders(5);
        while (reader.getData(dg)) taken++;
      }
      await manager.waitForReaders(0.1);
      const before = process.cpuUsage();
      const woke = await manager.waitForReaders(1);
      const used = process.cpuUsage(before);
      console.log(JSON.stringify({ woke, cpuMs: (used.user + used.system) / 1000 }));
      for (const socket of peers) socket.destroy();
      await manager.close();
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(child.status, child.stderr).toBe(0);
    const { woke, cpuMs } = JSON.parse(child.stdout.trim()) as { woke: boolean; cpuMs: number };
    expect(woke).toBe(false);
    // A loop that spun on setImmediate, or a 1 ms timer, would use hundreds of ms here.
    expect(cpuMs).toBeLessThan(10);
  });
});

describe('waitForReaders arguments', () => {
  it('throws a TypeError for a timeout that is not a number, and for a bad signal', async () => {
    const manager = new QueuedConnectionManager();
    onCleanup(() => manager.close());
    new QueuedConnectionReader(manager, 0);
    expect(() => manager.waitForReaders('1' as unknown as number)).toThrow(/timeoutSeconds must be a number.*"1" \(string\)/);
    expect(() => manager.waitForReaders(Number.NaN)).toThrow(TypeError);
    expect(() => manager.waitForReaders(1, { signal: {} as AbortSignal })).toThrow(/options.signal must be an AbortSignal/);
    expect(await manager.waitForReaders(0)).toBe(false);
  });

  it('works before any reader exists: a reset or a client still ends it', async () => {
    const manager = new QueuedConnectionManager();
    onCleanup(() => manager.close());
    expect(await manager.waitForReaders(0.05)).toBe(false);
  });
});

describe.each([0, 2])('TaskManager.run({ wakeOn }) (numThreads %i)', (n) => {
  it('runs a frame as soon as data comes, long before the next frame of its grid', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    const tasks = new TaskManager();
    const dg = new NetDatagram();
    const taken: number[] = [];
    tasks.add(() => {
      while (server.reader.getData(dg)) taken.push(dg.getMessage()[0]);
      if (taken.length === 3) return Task.done;
      return Task.cont;
    }, 'read');
    // One frame every 1000 s: only data can bring the frames that take the datagrams.
    const running = tasks.run({ frameRate: 0.001, wakeOn: server.manager });
    for (let i = 1; i <= 3; i++) {
      await peer.write(frame([i]));
      await pollUntil(() => taken.length >= i, { timeoutMs: 5000, label: `datagram ${i} taken by a frame` });
    }
    await settlesWithin(running, 5000, 'run');
    expect(taken).toEqual([1, 2, 3]);
    expect(tasks.frameCount).toBeLessThanOrEqual(4);
  });

  it('without a frame rate, sleeps until data instead of turning frames back to back', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    await shardsRunning(server, [peer]);
    const tasks = new TaskManager();
    const dg = new NetDatagram();
    let got = -1;
    tasks.add(() => {
      if (server.reader.getData(dg)) {
        got = dg.getMessage()[0];
        return Task.done;
      }
      return Task.cont;
    }, 'read');
    const running = tasks.run({ wakeOn: server.manager });
    await pollUntil(() => tasks.frameCount >= 1, { label: 'the first frame' });
    // The shards' start-up settles first (their threads compile as they begin).
    expect(await server.manager.waitForReaders(0.2)).toBe(false);
    const before = process.cpuUsage();
    // Nothing comes for 0.3 s (a second wait on the same manager says so): no frames
    // run, and no CPU is spent (a loop on setImmediate would run thousands).
    expect(await server.manager.waitForReaders(0.3)).toBe(false);
    const used = process.cpuUsage(before);
    expect(tasks.frameCount).toBe(1);
    expect((used.user + used.system) / 1000).toBeLessThan(10);
    await peer.write(frame([42]));
    await settlesWithin(running, 5000, 'run ends when the task is done');
    expect(got).toBe(42);
    expect(tasks.frameCount).toBe(2);
  });

  it('stop() ends a run that sleeps on the manager, and the frames then stop', async () => {
    const server = await startServer(n);
    const peer = await Peer.connect(server.port);
    await server.accept();
    const tasks = new TaskManager();
    tasks.add(() => Task.cont, 'idle');
    const running = tasks.run({ wakeOn: server.manager });
    await pollUntil(() => tasks.frameCount >= 1, { label: 'the first frame' });
    tasks.stop();
    await settlesWithin(running, 5000, 'run after stop()');
    const frames = tasks.frameCount;
    await peer.write(frame([1]));
    await pollUntil(() => server.reader.dataAvailable(), { label: 'the datagram' });
    expect(tasks.frameCount).toBe(frames);
  });

  it('falls back to timers once the manager is closed', async () => {
    const server = await startServer(n);
    await server.close();
    const tasks = new TaskManager();
    let ran = false;
    tasks.doMethodLater(0.05, () => {
      ran = true;
    }, 'later');
    tasks.add(() => Task.cont, 'each frame');
    const running = tasks.run({ frameRate: 100, wakeOn: server.manager });
    await pollUntil(() => ran, { timeoutMs: 5000, label: 'the delayed task' });
    tasks.stop();
    await settlesWithin(running, 5000, 'run');
    // 100 frames/s for ~0.05 s: a handful, not a spin.
    expect(tasks.frameCount).toBeLessThan(50);
  });

  it('rejects a wakeOn without waitForReaders', () => {
    expect(() => new TaskManager().run({ wakeOn: {} as never })).toThrow(/wakeOn must have waitForReaders/);
  });
});
