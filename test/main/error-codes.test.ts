/**
 * Every error ringwire throws or reports has a stable `code` (issue #24, point 5): each
 * code of ErrorCode is made here the way a program meets it, through the package's entry
 * point, and matched on its code and class, never on its text.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConnectionGroup,
  ConnectionWriter,
  Datagram,
  DatagramIterator,
  ErrorCode,
  NetAddress,
  PointerToConnection,
  QueuedConnectionListener,
  QueuedConnectionManager,
  QueuedConnectionReader,
  RingwireError,
  RingwireRangeError,
  RingwireTypeError,
  TaskManager,
  encodeFrame,
} from '../../src/index.js';
import { HOST, closeAll, onCleanup, pollUntil, startServer } from '../helpers/net-harness.js';

afterEach(closeAll);

function manager(options = {}): QueuedConnectionManager {
  const m = new QueuedConnectionManager(options);
  onCleanup(() => m.close());
  return m;
}

/** The error `fn` throws (or the promise it returns rejects with). */
async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** Asserts `error` is an instance of `kind` with `code`. */
function expectCode(error: unknown, kind: new (...args: never[]) => Error, code: string): void {
  expect(error).toBeInstanceOf(kind);
  expect((error as { code?: unknown }).code).toBe(code);
}

describe('error codes', () => {
  it('every code is a distinct RINGWIRE_ string', () => {
    const codes = Object.values(ErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^RINGWIRE_[A-Z_]+$/);
  });

  it('misuse: wrong types, values out of range, options', async () => {
    const m = manager();
    const reader = new QueuedConnectionReader(m, 0);
    const writer = new ConnectionWriter(m, 0);
    expectCode(await caught(() => reader.setMaxDatagramSize('1000' as never)), RingwireRangeError, ErrorCode.INVALID_ARG_VALUE);
    expectCode(await caught(() => writer.setRawMode(1 as never)), RingwireTypeError, ErrorCode.INVALID_ARG_TYPE);
    expectCode(await caught(() => m.openTCPServerRendezvous('21110' as never, '1000' as never)), RingwireTypeError, ErrorCode.INVALID_ARG_TYPE);
    expectCode(await caught(() => m.openTCPServerRendezvous(70000)), RingwireRangeError, ErrorCode.INVALID_ARG_VALUE);
    expectCode(await caught(() => new QueuedConnectionReader({} as never, 0)), RingwireTypeError, ErrorCode.INVALID_ARG_TYPE);
    expectCode(await caught(() => new Datagram().addUint8(256)), RingwireRangeError, ErrorCode.INVALID_ARG_VALUE);
    expectCode(await caught(() => new QueuedConnectionManager({ ringCapcity: 4096 } as never)), RingwireTypeError, ErrorCode.INVALID_OPTION);
    expectCode(await caught(() => new QueuedConnectionManager({ ringCapacity: 1000 })), RingwireRangeError, ErrorCode.INVALID_OPTION);
    expectCode(await caught(() => new QueuedConnectionManager({ reusePort: 'yes' as never })), RingwireTypeError, ErrorCode.INVALID_OPTION);
  });

  it('datagrams too large for what carries them, reads past the end, values that are not msgpack', async () => {
    const m = manager();
    new QueuedConnectionReader(m, 0);
    const writer = new ConnectionWriter(m, 0);
    const udp = (await m.openUDPConnection(0))!;
    const big = new Datagram(new Uint8Array(70_000));
    expectCode(
      await caught(() => writer.send(new Datagram(new Uint8Array(2000)), udp, address(9))),
      RingwireRangeError,
      ErrorCode.DATAGRAM_TOO_LARGE,
    );
    expectCode(await caught(() => writer.broadcast(big, [])), RingwireRangeError, ErrorCode.DATAGRAM_TOO_LARGE);
    expectCode(await caught(() => new Datagram().addString('x'.repeat(70_000))), RingwireRangeError, ErrorCode.DATAGRAM_TOO_LARGE);
    expectCode(await caught(() => encodeFrame(new Uint8Array(70_000), 2)), RingwireRangeError, ErrorCode.DATAGRAM_TOO_LARGE);
    expectCode(await caught(() => new DatagramIterator(new Datagram()).getUint32()), RingwireRangeError, ErrorCode.READ_PAST_END);
    // A u32 length of 2, then a msgpack uint16 cut short: its marker and one of its two bytes.
    const notMsgpack = new Datagram(new Uint8Array([2, 0, 0, 0, 0xcd, 0x01]));
    expectCode(await caught(() => new DatagramIterator(notMsgpack).getValue()), RingwireRangeError, ErrorCode.BAD_VALUE);
    expectCode(await caught(() => new Datagram().addValue(2n ** 70n)), RingwireRangeError, ErrorCode.BAD_VALUE);
  });

  it("the wrong kind of connection, and another manager's", async () => {
    const server = await startServer(0);
    const udp = (await server.manager.openUDPConnection(0))!;
    expectCode(await caught(() => udp.setNoDelay(true)), RingwireError, ErrorCode.WRONG_CONNECTION_KIND);
    expectCode(await caught(() => server.writer.send(new Datagram(), udp)), RingwireTypeError, ErrorCode.WRONG_CONNECTION_KIND);
    expectCode(await caught(() => server.writer.broadcast(new Datagram(), [udp])), RingwireTypeError, ErrorCode.WRONG_CONNECTION_KIND);
    expectCode(
      await caught(() => server.writer.send(new Datagram(), server.rendezvous, address(9))),
      RingwireTypeError,
      ErrorCode.WRONG_CONNECTION_KIND,
    );
    const other = manager();
    expectCode(
      await caught(() => new QueuedConnectionListener(other, 0).addConnection(server.rendezvous)),
      RingwireError,
      ErrorCode.FOREIGN_CONNECTION,
    );
    expectCode(await caught(() => new QueuedConnectionReader(other, 0).addConnection(udp)), RingwireError, ErrorCode.FOREIGN_CONNECTION);
  });

  it('state: a closed manager, a shut-down writer, a second reader, a busy task manager, a task that throws no Error', async () => {
    const m = manager();
    new QueuedConnectionReader(m, 0);
    expectCode(await caught(() => new QueuedConnectionReader(m, 0)), RingwireError, ErrorCode.READER_EXISTS);
    const writer = new ConnectionWriter(m, 0);
    writer.shutdown();
    expectCode(await caught(() => writer.send(new Datagram(), null as never)), RingwireError, ErrorCode.WRITER_SHUT_DOWN);
    await m.close();
    expectCode(await caught(() => m.openTCPServerRendezvous(0)), RingwireError, ErrorCode.MANAGER_CLOSED);
    expectCode(await caught(() => m.openUDPConnection(0)), RingwireError, ErrorCode.MANAGER_CLOSED);

    const tasks = new TaskManager();
    tasks.add(() => {
      expectCode(
        (() => {
          try {
            tasks.step();
          } catch (error) {
            return error;
          }
        })(),
        RingwireError,
        ErrorCode.TASK_MANAGER_BUSY,
      );
      throw null;
    }, 'throws null');
    expectCode(await caught(() => tasks.run({ frameRate: 1000 })), RingwireError, ErrorCode.TASK_FAILED);
  });

  it("getLastError: a connect that times out, one the manager closes, and the operating system's own codes", async () => {
    const m = manager();
    new QueuedConnectionReader(m, 0);
    const refused = await m.openTCPClientConnection(HOST, await closedPort(), 0);
    expect(refused).toBeNull();
    expect((m.getLastError() as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    const silent = await unansweredPort();
    expect(await m.openTCPClientConnection(HOST, silent, 300)).toBeNull();
    expectCode(m.getLastError(), RingwireError, ErrorCode.CONNECT_TIMEOUT);
    const pending = m.openTCPClientConnection(HOST, silent, 0);
    await m.close();
    expect(await pending).toBeNull();
    expectCode(m.getLastError(), RingwireError, ErrorCode.MANAGER_CLOSED);
  });

  it('getLastError after a worker shard dies: RINGWIRE_SHARD_FAILED, with what killed it as the cause', async () => {
    const server = await startServer(2);
    const peer = net.connect({ host: HOST, port: server.port });
    onCleanup(() => void peer.destroy());
    await server.accept();
    const pool = (server.manager as unknown as { shards: { pool: { threads: { terminate(): Promise<number> }[] } } }).shards.pool;
    await Promise.all(pool.threads.map((thread) => thread.terminate()));
    await pollUntil(() => server.manager.getLastError(), { label: 'the shard failure to be reported' });
    const error = server.manager.getLastError()!;
    expectCode(error, RingwireError, ErrorCode.SHARD_FAILED);
    expect(error.cause).toBeInstanceOf(Error);
    const ptr = new PointerToConnection();
    await pollUntil(() => server.manager.getResetConnection(ptr), { label: 'the reset' });
    expect(ptr.p()!.getResetReason()).toBe('error');
  });

  it('ConnectionGroup and the bus name their misuse by code too', async () => {
    expectCode(await caught(() => new ConnectionGroup().add({} as never)), RingwireTypeError, ErrorCode.INVALID_ARG_TYPE);
  });
});

/** 127.0.0.1:`port` as a NetAddress. */
function address(port: number): NetAddress {
  const to = new NetAddress();
  to.setHost(HOST, port);
  return to;
}

/**
 * A port whose accept queue is full: a child process listens with a backlog of 1 and is
 * stopped (SIGSTOP), so it accepts nothing; two plain clients fill the queue, and the
 * kernel drops the SYNs that come after, as a server that stopped answering does.
 */
async function unansweredPort(): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s = require('node:net').createServer(); s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => console.log(s.address().port));",
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  onCleanup(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  child.kill('SIGSTOP');
  for (let i = 0; i < 3; i++) {
    const filler = net.connect({ host: HOST, port }).on('error', () => {});
    onCleanup(() => void filler.destroy());
  }
  return port;
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen({ host: HOST, port: 0 }, resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
