/**
 * Opening connections: openTCPClientConnection's failures (refused, timed out), argument
 * validation, and openTCPServerRendezvous on a port already in use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetAddress } from '../../src/main/api/net-address.js';
import { QueuedConnectionManager } from '../../src/main/api/queued-connection-manager.js';
import { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';
import { HOST, closeAll, onCleanup, pollUntil, startClient, startServer, yieldTurn } from '../helpers/net-harness.js';
import { ErrorCode } from '../../src/shared/errors.js';

/** A port nobody listens on: bind one, note it, close it. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: HOST, port: 0 }, resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A loopback port that never completes a handshake: a child process listens with backlog 1
 * and then blocks its thread in Atomics.wait, so it never accepts. Once the kernel's accept
 * queue is full, Linux drops further SYNs (tcp_abort_on_overflow = 0) and a connect hangs.
 * Fillers are opened one by one until one does not connect: then the queue is full.
 */
async function blackHole(): Promise<{ port: number; close: () => Promise<void> }> {
  const script = `
    const net = require('node:net');
    const server = net.createServer();
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
      process.stdout.write(server.address().port + '\\n', () => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      });
    });`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: net.Socket[] = [];
  const close = onCleanup(async () => {
    for (const socket of fillers) socket.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += String(chunk);
      if (text.includes('\n')) resolve(Number(text.trim()));
    });
    child.once('exit', (code) => reject(new Error(`black-hole child exited early (${code})`)));
  });
  for (let i = 0; i < 16; i++) {
    const socket = net.connect({ host: HOST, port });
    socket.on('error', () => {});
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 500);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!connected) return { port, close };
  }
  await close();
  throw new Error('blackHole: the accept queue never filled');
}

describe.each([0, 2])('opening connections (numThreads %i)', (n) => {
  afterEach(closeAll);

  it('resolves null with ECONNREFUSED when nobody listens', async () => {
    const port = await freePort();
    const client = startClient(n);
    expect(client.manager.getLastError()).toBeNull();
    expect(await client.manager.openTCPClientConnection(HOST, port, 2000)).toBeNull();
    const error = client.manager.getLastError() as NodeJS.ErrnoException;
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('ECONNREFUSED');
    // The NetAddress form fails the same way.
    const address = new NetAddress();
    address.setHost(HOST, port);
    expect(await client.manager.openTCPClientConnection(address, 2000)).toBeNull();
    expect((client.manager.getLastError() as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('connectTCP: of opens made together, each rejects with its own failure, or resolves its connection', async () => {
    const refusedA = await freePort();
    const refusedB = await freePort();
    const hole = await blackHole();
    try {
      const server = await startServer(n);
      const client = startClient(n);
      const [a, b, timedOut, ok] = await Promise.allSettled([
        client.manager.connectTCP(HOST, refusedA, 5000),
        client.manager.connectTCP(HOST, refusedB, 5000),
        client.manager.connectTCP(HOST, hole.port, 200),
        client.manager.connectTCP(HOST, server.port, 5000),
      ]);
      expect(a).toMatchObject({ status: 'rejected', reason: { code: 'ECONNREFUSED', port: refusedA } });
      expect(b).toMatchObject({ status: 'rejected', reason: { code: 'ECONNREFUSED', port: refusedB } });
      expect(timedOut).toMatchObject({ status: 'rejected', reason: { code: ErrorCode.CONNECT_TIMEOUT } });
      expect(ok.status).toBe('fulfilled');
      const conn = (ok as PromiseFulfilledResult<Awaited<ReturnType<typeof client.manager.connectTCP>>>).value;
      expect(conn.getAddress().getPort()).toBe(server.port);
      // The NetAddress form, and the argument checks openTCPClientConnection makes.
      const address = new NetAddress();
      address.setHost(HOST, refusedA);
      await expect(client.manager.connectTCP(address, 1000)).rejects.toMatchObject({ code: 'ECONNREFUSED', port: refusedA });
      await expect(client.manager.connectTCP('x' as never)).rejects.toMatchObject({ code: ErrorCode.INVALID_ARG_TYPE });
      await expect(client.manager.connectTCP(HOST, server.port, -1)).rejects.toMatchObject({ code: ErrorCode.INVALID_ARG_VALUE });
      await client.manager.close();
      await expect(client.manager.connectTCP(HOST, server.port)).rejects.toMatchObject({ code: ErrorCode.MANAGER_CLOSED });
    } finally {
      await hole.close();
    }
  });

  it('resolves null once timeoutMs has passed when the server never answers', async () => {
    const hole = await blackHole();
    try {
      const client = startClient(n);
      const timeoutMs = 300;
      // Timers count from libuv's clock, cached at the start of a loop turn: start a fresh
      // turn so that clock and `started` agree to well under a millisecond.
      await yieldTurn();
      const started = performance.now();
      const conn = await client.manager.openTCPClientConnection(HOST, hole.port, timeoutMs);
      const elapsed = performance.now() - started;
      expect(conn).toBeNull();
      expect(client.manager.getLastError()?.message).toMatch(/timed out after 300 ms/);
      // The timeout is honoured: not before it, and not long after it.
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 5);
      expect(elapsed).toBeLessThan(timeoutMs * 5);
    } finally {
      await hole.close();
    }
  });

  it('a connect still pending when the manager closes resolves null', async () => {
    const hole = await blackHole();
    try {
      const manager = new QueuedConnectionManager();
      onCleanup(() => manager.close());
      new QueuedConnectionReader(manager, n);
      const pending = manager.openTCPClientConnection(HOST, hole.port, 0);
      await manager.close();
      expect(await pending).toBeNull();
      expect(manager.getLastError()).toBeInstanceOf(Error);
      await expect(manager.openTCPClientConnection(HOST, hole.port, 0)).rejects.toMatchObject({ code: ErrorCode.MANAGER_CLOSED });
    } finally {
      await hole.close();
    }
  });

  it('connects through the NetAddress form and reports the server address', async () => {
    const server = await startServer(n);
    const client = startClient(n);
    const address = new NetAddress();
    expect(address.setHost(HOST, server.port)).toBe(true);
    const conn = await client.manager.openTCPClientConnection(address, 2000);
    expect(conn).not.toBeNull();
    expect(conn!.getAddress().equals(address)).toBe(true);
    expect(conn!.getManager()).toBe(client.manager);
    expect(conn!.getResetReason()).toBeNull();
    await server.accept();
  });

  it('rejects bad arguments with errors that name them', async () => {
    const client = startClient(n);
    const m = client.manager;
    await expect(m.openTCPClientConnection(HOST, 70000, 100)).rejects.toThrow(RangeError);
    await expect(m.openTCPClientConnection(HOST, 70000, 100)).rejects.toThrow(/port.*70000/);
    await expect(m.openTCPClientConnection(HOST, 1, -1)).rejects.toThrow(/timeoutMs.*-1/);
    await expect(m.openTCPClientConnection(42 as unknown as string, 1, 100)).rejects.toThrow(TypeError);
    await expect(m.openTCPServerRendezvous(HOST, -1, 10)).rejects.toThrow(RangeError);
    await expect(m.openTCPServerRendezvous(HOST, 0, 1.5)).rejects.toThrow(/backlog/);
  });

  it('openTCPServerRendezvous on a port already in use resolves null with EADDRINUSE', async () => {
    const server = await startServer(n);
    const other = new QueuedConnectionManager();
    onCleanup(() => other.close());
    expect(await other.openTCPServerRendezvous(HOST, server.port, 10)).toBeNull();
    expect((other.getLastError() as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    // The NetAddress form, and the original rendezvous still works.
    const address = new NetAddress();
    address.setHost(HOST, server.port);
    expect(await other.openTCPServerRendezvous(address, 10)).toBeNull();
    expect((other.getLastError() as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    const client = startClient(n);
    await client.connect(server.port);
    await pollUntil(() => server.listener.newConnectionAvailable(), { label: 'the client at the first rendezvous' });
  });
});

describe('NetAddress.setHost validation', () => {
  it('accepts IPv4 and IPv6 literals', () => {
    const a = new NetAddress();
    expect(a.setHost('127.0.0.1', 9099)).toBe(true);
    expect(a.getIpString()).toBe('127.0.0.1');
    expect(a.getPort()).toBe(9099);
    expect(a.toString()).toBe('127.0.0.1:9099');
    expect(a.setHost('::1', 0)).toBe(true);
    expect(a.toString()).toBe('[::1]:0');
    expect(a.setHost('10.1.2.3', 65535)).toBe(true);
  });

  it('accepts IP literals and localhost, returns false for other names, throws for a non-string', () => {
    const a = new NetAddress();
    expect(a.setHost('localhost', 80)).toBe(true);
    expect([a.getIpString(), a.getPort()]).toEqual(['127.0.0.1', 80]);
    expect(a.setHost('::1', 81)).toBe(true);
    expect(a.toString()).toBe('[::1]:81');
    for (const name of ['example.invalid', '', '256.0.0.1']) {
      expect(a.setHost(name, 90)).toBe(false);
      expect(a.toString()).toBe('[::1]:81'); // unchanged
    }
    expect(() => a.setHost(undefined as unknown as string, 80)).toThrow(TypeError);
  });

  it('throws a RangeError naming a bad port, and leaves the address unchanged', () => {
    const a = new NetAddress();
    a.setHost('127.0.0.1', 1);
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      expect(() => a.setHost('127.0.0.2', port)).toThrow(RangeError);
      expect(() => a.setHost('127.0.0.2', port)).toThrow(new RegExp(`got ${String(port)}`));
    }
    expect(() => a.setHost('127.0.0.2', '80' as unknown as number)).toThrow(RangeError);
    expect(a.toString()).toBe('127.0.0.1:1');
    expect(() => a.setAny(70000)).toThrow(RangeError);
    expect(a.setAny(5)).toBe(true);
    expect(a.toString()).toBe('0.0.0.0:5');
  });
});
