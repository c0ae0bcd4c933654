/**
 * manager.waitForReaders (issue #10): Panda3D's wait_for_readers as a Promise. It resolves
 * true as soon as a datagram, a new client or a reset is there to take, false at its
 * timeout or when the manager closes, and a pending wait costs no CPU. Every wait here that
 * must be ended by an event has no timeout of its own: only that event can end it, and
 * `settlesWithin` turns a wait that never ends into a failure with a name.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Datagram } from '../../src/shared/datagram.js';
import { NetDatagram } from '../../src/main/net-datagram.js';
import { PointerToConnection } from '../../src/main/pointer-to-connection.js';
import { QueuedConnectionManager } from '../../src/main/queued-connection-manager.js';
import { QueuedConnectionReader } from '../../src/main/queued-connection-reader.js';
import { HOST, Peer, closeAll, frame, onCleanup, pollUntil, startServer } from '../helpers/net-harness.js';

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
    const server = await startServer(n);
    const peers = await Promise.all(Array.from({ length: 10 }, () => Peer.connect(server.port)));
    for (let i = 0; i < peers.length; i++) await server.accept();
    // Let the connections' set-up settle first.
    expect(await server.manager.waitForReaders(0.1)).toBe(false);
    const before = process.cpuUsage();
    expect(await server.manager.waitForReaders(1)).toBe(false);
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
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
