/**
 * Shared helpers for the networking suites: a ringwire server and client on loopback, a
 * plain node:net peer that speaks hand-built frames, a deterministic datagram generator,
 * and pollUntil() — the only way the suites wait.
 *
 * Everything a helper opens is registered here and closed by {@link closeAll} (call it in
 * afterEach), so a failing test cannot leave sockets or worker threads behind.
 */
import net from 'node:net';
import type { HeaderSize } from '../../src/shared/frame-encoder.js';
import { ConnectionWriter } from '../../src/main/api/connection-writer.js';
import type { Connection } from '../../src/main/api/connection.js';
import { NetDatagram } from '../../src/main/api/net-datagram.js';
import { PointerToConnection } from '../../src/main/api/pointer-to-connection.js';
import { QueuedConnectionListener } from '../../src/main/api/queued-connection-listener.js';
import {
  QueuedConnectionManager,
  type QueuedConnectionManagerOptions,
} from '../../src/main/api/queued-connection-manager.js';
import { QueuedConnectionReader } from '../../src/main/api/queued-connection-reader.js';

export const HOST = '127.0.0.1';

// ── cleanup registry ────────────────────────────────────────────────────────

const open = new Set<() => Promise<void> | void>();

/** Registers `closer` until it runs; returns a once-only version that unregisters it. */
function track(closer: () => Promise<void> | void): () => Promise<void> {
  let done: Promise<void> | null = null;
  const once = (): Promise<void> => {
    if (done === null) {
      open.delete(once);
      done = Promise.resolve().then(closer);
    }
    return done;
  };
  open.add(once);
  return once;
}

/** Closes every manager, socket, server and child process a helper opened and nobody closed. */
export async function closeAll(): Promise<void> {
  const closers = [...open];
  open.clear();
  const results = await Promise.allSettled(closers.map((close) => close()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Registers any resource with the registry (e.g. a child process); returns its closer. */
export function onCleanup(closer: () => Promise<void> | void): () => Promise<void> {
  return track(closer);
}

// ── waiting ─────────────────────────────────────────────────────────────────

export interface PollOptions {
  /** Give up after this long (ms). Default 10 000. */
  timeoutMs?: number;
  /** Names what is awaited in the timeout error. */
  label: string;
}

/**
 * Calls `fn` until it returns something truthy and resolves that value. Between calls it
 * yields to the event loop (setImmediate; every 64th turn a 1 ms timer, so timers and
 * I/O callbacks of other phases run too). Throws `pollUntil: timed out after N ms waiting
 * for <label>` when the deadline passes, or whatever `fn` throws.
 */
export async function pollUntil<T>(fn: () => T, options: PollOptions): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (let turn = 0; ; turn++) {
    const value = fn();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(`pollUntil: timed out after ${timeoutMs} ms waiting for ${options.label}`);
    }
    await ((turn & 63) === 63 ? sleepTick() : yieldTurn());
  }
}

/** One turn of the event loop. */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sleepTick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

/**
 * Asserts a negative over a window: calls `fn` every turn for `windowMs` and throws if it
 * ever returns something truthy. (A window cannot prove absence, but a correct
 * implementation passes it however long it is, so it cannot be flaky.)
 */
export async function expectNothingFor(windowMs: number, fn: () => unknown, label: string): Promise<void> {
  const end = Date.now() + windowMs;
  for (let turn = 0; Date.now() < end; turn++) {
    if (fn()) throw new Error(`expected no ${label} within ${windowMs} ms, but got one`);
    await ((turn & 63) === 63 ? sleepTick() : yieldTurn());
  }
}

// ── framing ─────────────────────────────────────────────────────────────────

/** `payload` preceded by its little-endian length header (0: raw, nothing added). */
export function frame(payload: Uint8Array | readonly number[], headerSize: HeaderSize = 2): Buffer {
  const body = Buffer.from(payload as Uint8Array);
  const out = Buffer.alloc(headerSize + body.length);
  if (headerSize === 2) out.writeUInt16LE(body.length, 0);
  else if (headerSize === 4) out.writeUInt32LE(body.length, 0);
  body.copy(out, headerSize);
  return out;
}

/**
 * Cuts a byte stream into u16- or u32-framed datagrams as the chunks arrive. Keeps only
 * the bytes of the datagram it is in the middle of.
 */
export class FrameSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly headerSize: 2 | 4,
    private readonly onFrame: (payload: Buffer) => void,
  ) {}

  /** Bytes of an incomplete datagram held. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const h = this.headerSize;
    let i = 0;
    while (buf.length - i >= h) {
      const length = h === 2 ? buf.readUInt16LE(i) : buf.readUInt32LE(i);
      if (buf.length - i - h < length) break;
      this.onFrame(buf.subarray(i + h, i + h + length));
      i += h + length;
    }
    buf = buf.subarray(i);
    // Copy the remainder so a large chunk is not kept alive by a small tail.
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }
}

// ── the plain node:net peer ─────────────────────────────────────────────────

export interface PeerOptions {
  /** Decode received bytes as frames with this header size (default 2); 0 keeps bytes only. */
  headerSize?: HeaderSize;
  /** Keep every received frame in `frames` (default true). */
  keepFrames?: boolean;
  /** Called for each decoded frame (the buffer is only valid during the call). */
  onFrame?: (payload: Buffer) => void;
  /** Keep the raw received chunks (default true). */
  keepBytes?: boolean;
}

/**
 * A peer written with plain node:net: writes hand-built bytes, records every byte it
 * receives, decodes u16/u32 little-endian frames, and notes 'end' and 'close'.
 */
export class Peer {
  readonly chunks: Buffer[] = [];
  readonly frames: Buffer[] = [];
  receivedBytes = 0;
  frameCount = 0;
  /** The server's FIN arrived. */
  ended = false;
  /** The socket closed. */
  closed = false;
  error: Error | null = null;
  /** frameCount when 'end' arrived (-1 before). */
  framesAtEnd = -1;
  readonly close: () => Promise<void>;
  private readonly splitter: FrameSplitter | null;

  private constructor(
    readonly socket: net.Socket,
    options: PeerOptions,
  ) {
    const headerSize = options.headerSize ?? 2;
    const keepFrames = options.keepFrames ?? true;
    const keepBytes = options.keepBytes ?? true;
    const onFrame = options.onFrame;
    this.splitter =
      headerSize === 0
        ? null
        : new FrameSplitter(headerSize, (payload) => {
            this.frameCount++;
            if (keepFrames) this.frames.push(Buffer.from(payload));
            if (onFrame) onFrame(payload);
          });
    socket.on('data', (chunk: Buffer) => {
      this.receivedBytes += chunk.length;
      if (keepBytes) this.chunks.push(chunk);
      this.splitter?.push(chunk);
    });
    socket.on('end', () => {
      this.ended = true;
      this.framesAtEnd = this.frameCount;
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', (error) => (this.error = error));
    this.close = track(
      () =>
        new Promise<void>((resolve) => {
          if (this.closed) return resolve();
          socket.once('close', () => resolve());
          socket.destroy();
        }),
    );
  }

  /** Connects to 127.0.0.1:`port`; rejects when the connection fails. */
  static connect(port: number, options: PeerOptions = {}): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: HOST, port });
      socket.setNoDelay(true);
      const peer = new Peer(socket, options);
      socket.once('connect', () => resolve(peer));
      socket.once('error', (error) => {
        void peer.close();
        reject(error);
      });
    });
  }

  /** The local port: the server sees the connection from it. */
  get localPort(): number {
    return this.socket.localPort!;
  }

  /** Everything received so far, in one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Bytes of an incomplete frame held by the decoder. */
  get partialBytes(): number {
    return this.splitter?.bufferedBytes ?? 0;
  }

  /** Writes `data`; resolves once the socket accepts more (honours back-pressure). */
  write(data: Uint8Array): Promise<void> {
    // A socket the server reset is destroyed: no 'drain' or 'close' would ever come.
    if (this.socket.destroyed) return Promise.reject(new Error('peer socket closed before writing'));
    if (this.socket.write(data)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('drain', onDrain);
        reject(new Error('peer socket closed while writing'));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  /** Writes `data` in random-size slices of 1..maxSlice bytes, honouring back-pressure. */
  async writeInSlices(data: Uint8Array, rng: Rng, maxSlice = 16384): Promise<void> {
    let i = 0;
    while (i < data.length) {
      const n = Math.min(data.length - i, 1 + rng.below(maxSlice));
      await this.write(data.subarray(i, i + n));
      i += n;
    }
  }

  /** Sends FIN after everything written; resolves when it is flushed. */
  end(): Promise<void> {
    return new Promise((resolve) => this.socket.end(resolve));
  }
}

// ── ringwire sides ──────────────────────────────────────────────────────────

export interface EndpointOptions {
  /** QueuedConnectionManager options (ringCapacity, …). */
  manager?: QueuedConnectionManagerOptions;
  /** Header size for the reader and the writer (set before any connection is read). */
  headerSize?: HeaderSize;
  /** Raw mode for the reader and the writer. */
  raw?: boolean;
}

export interface ServerOptions extends EndpointOptions {
  /** The rendezvous backlog (default 128). */
  backlog?: number;
}

export interface AcceptOptions {
  timeoutMs?: number;
  /** Add the connection to the reader (default true). */
  read?: boolean;
}

export interface TestServer {
  manager: QueuedConnectionManager;
  listener: QueuedConnectionListener;
  reader: QueuedConnectionReader;
  writer: ConnectionWriter;
  rendezvous: Connection;
  port: number;
  /** Polls the listener until a new connection arrives, adds it to the reader, returns it. */
  accept(options?: AcceptOptions): Promise<Connection>;
  /** Closes the manager (idempotent). */
  close(): Promise<void>;
}

function configure(reader: QueuedConnectionReader, writer: ConnectionWriter, options: EndpointOptions): void {
  if (options.headerSize !== undefined) {
    reader.setTcpHeaderSize(options.headerSize);
    writer.setTcpHeaderSize(options.headerSize);
  }
  if (options.raw !== undefined) {
    reader.setRawMode(options.raw);
    writer.setRawMode(options.raw);
  }
}

/**
 * A ringwire server on 127.0.0.1 with an OS-chosen port: manager, listener, a reader and a
 * writer with `n` threads (0: single-thread mode), and a rendezvous the listener listens to.
 */
export async function startServer(n: number, options: ServerOptions = {}): Promise<TestServer> {
  const manager = new QueuedConnectionManager(options.manager);
  const close = track(() => manager.close());
  const listener = new QueuedConnectionListener(manager, 0);
  const reader = new QueuedConnectionReader(manager, n);
  const writer = new ConnectionWriter(manager, n);
  configure(reader, writer, options);
  const rendezvous = await manager.openTCPServerRendezvous(HOST, 0, options.backlog ?? 128);
  if (rendezvous === null) {
    await close();
    throw new Error(`startServer: could not open a rendezvous: ${String(manager.getLastError())}`);
  }
  if (!listener.addConnection(rendezvous)) throw new Error('startServer: listener.addConnection failed');
  const port = rendezvous.getAddress().getPort();
  const accept = async (acceptOptions: AcceptOptions = {}): Promise<Connection> => {
    const ptr = new PointerToConnection();
    await pollUntil(() => listener.getNewConnection(ptr), {
      timeoutMs: acceptOptions.timeoutMs ?? 10_000,
      label: `a new connection on port ${port}`,
    });
    const conn = ptr.p()!;
    if ((acceptOptions.read ?? true) && !reader.addConnection(conn)) {
      throw new Error(`accept: reader.addConnection(${conn.toString()}) failed`);
    }
    return conn;
  };
  return { manager, listener, reader, writer, rendezvous, port, accept, close };
}

export interface TestClient {
  manager: QueuedConnectionManager;
  reader: QueuedConnectionReader;
  writer: ConnectionWriter;
  /** openTCPClientConnection to 127.0.0.1:`port`, added to the reader; throws when it fails. */
  connect(port: number, timeoutMs?: number): Promise<Connection>;
  close(): Promise<void>;
}

/** A ringwire client side: its own manager, reader and writer with `n` threads. */
export function startClient(n: number, options: EndpointOptions = {}): TestClient {
  const manager = new QueuedConnectionManager(options.manager);
  const close = track(() => manager.close());
  const reader = new QueuedConnectionReader(manager, n);
  const writer = new ConnectionWriter(manager, n);
  configure(reader, writer, options);
  const connect = async (port: number, timeoutMs = 5000): Promise<Connection> => {
    const conn = await manager.openTCPClientConnection(HOST, port, timeoutMs);
    if (conn === null) throw new Error(`connect to ${port} failed: ${String(manager.getLastError())}`);
    if (!reader.addConnection(conn)) throw new Error('connect: reader.addConnection failed');
    return conn;
  };
  return { manager, reader, writer, connect, close };
}

/** Takes every datagram the reader has now, calling `visit` with a reused NetDatagram. */
export function drainReader(reader: QueuedConnectionReader, visit: (dg: NetDatagram) => void, dg = new NetDatagram()): number {
  let count = 0;
  while (reader.getData(dg)) {
    visit(dg);
    count++;
  }
  return count;
}

// ── deterministic data ──────────────────────────────────────────────────────

/** xorshift32: the same seed gives the same sequence on both sides of a test. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return x;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }
}

/** A 32-bit mix of two integers (murmur3's finaliser over a combination). */
export function hash2(a: number, b: number): number {
  let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The size of datagram `seq` of connection `conn`: 0..maxSize, derived from both. */
export function payloadSize(conn: number, seq: number, maxSize: number): number {
  return hash2(conn, seq) % (maxSize + 1);
}

/** Fills `out[at, at + size)` with the content of datagram (`conn`, `seq`). */
export function fillPayload(out: Uint8Array, at: number, conn: number, seq: number, size: number): void {
  const seed = hash2(seq, conn);
  for (let i = 0; i < size; i++) out[at + i] = (seed + Math.imul(i, 0x9d) + (i >>> 8)) & 0xff;
}

/** Datagram (`conn`, `seq`) as a new array. */
export function makePayload(conn: number, seq: number, maxSize: number): Uint8Array {
  const size = payloadSize(conn, seq, maxSize);
  const out = new Uint8Array(size);
  fillPayload(out, 0, conn, seq, size);
  return out;
}

/** True when `bytes[offset, offset + length)` is exactly datagram (`conn`, `seq`). */
export function isPayload(
  bytes: Uint8Array,
  offset: number,
  length: number,
  conn: number,
  seq: number,
  maxSize: number,
): boolean {
  if (length !== payloadSize(conn, seq, maxSize)) return false;
  const seed = hash2(seq, conn);
  for (let i = 0; i < length; i++) {
    if (bytes[offset + i] !== ((seed + Math.imul(i, 0x9d) + (i >>> 8)) & 0xff)) return false;
  }
  return true;
}

/** `count` datagrams of connection `conn`, framed with `headerSize`, as one stream. */
export function framedStream(conn: number, count: number, maxSize: number, headerSize: 2 | 4 = 2): Buffer {
  let total = 0;
  for (let seq = 0; seq < count; seq++) total += headerSize + payloadSize(conn, seq, maxSize);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let seq = 0; seq < count; seq++) {
    const size = payloadSize(conn, seq, maxSize);
    if (headerSize === 2) out.writeUInt16LE(size, at);
    else out.writeUInt32LE(size, at);
    at += headerSize;
    fillPayload(out, at, conn, seq, size);
    at += size;
  }
  return out;
}

/**
 * Checks a per-connection sequence as datagrams arrive: each must be the next one
 * expected. Records the first mismatch instead of throwing inside socket callbacks.
 */
export class SequenceChecker {
  readonly next: number[];
  failure: string | null = null;

  constructor(
    connections: number,
    private readonly maxSize: number,
  ) {
    this.next = new Array<number>(connections).fill(0);
  }

  check(conn: number, bytes: Uint8Array, offset: number, length: number): void {
    if (this.failure !== null) return;
    const seq = this.next[conn];
    if (!isPayload(bytes, offset, length, conn, seq, this.maxSize)) {
      this.failure =
        `connection ${conn}: datagram #${seq} expected ${payloadSize(conn, seq, this.maxSize)} bytes of (${conn}, ${seq}), ` +
        `got ${length} bytes that do not match (lost, duplicated, reordered or corrupted)`;
      return;
    }
    this.next[conn] = seq + 1;
  }

  /** Datagrams verified so far, over every connection. */
  total(): number {
    let sum = 0;
    for (const n of this.next) sum += n;
    return sum;
  }
}
