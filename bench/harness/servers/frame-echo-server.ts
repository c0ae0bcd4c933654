/**
 * The `node:net` echo server that plain-net-server.ts and faulty-server.ts both are: it
 * cuts each client's stream into Panda3D frames (frame-cutter.ts) and writes back what
 * the connection's {@link FrameEchoConnection.frame} queued, all of one data event's
 * writes corked into a single writev. When the socket's write buffer is full it stops
 * reading that socket until it drains, so a client that does not read cannot grow the
 * server's memory. The subclass decides what goes back: every frame, or (faulty) not.
 */
import net from 'node:net';
import { FrameCutter, type FrameSink } from './frame-cutter.js';
import { SERVER_HOST, type ServerHeaderSize, announceListening, stopOnSignal } from './server-options.js';

/** One client: its cutter, and the slices to write back at the end of the data event. */
export abstract class FrameEchoConnection implements FrameSink {
  /** Slices to write back once the chunk is cut. */
  protected readonly out: Buffer[] = [];
  /** null in raw mode (header size 0): every chunk goes back as it is. */
  private readonly cutter: FrameCutter | null;

  constructor(
    private readonly socket: net.Socket,
    headerSize: ServerHeaderSize,
  ) {
    this.cutter = headerSize === 0 ? null : new FrameCutter(headerSize);
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('drain', () => socket.resume());
  }

  /** A frame cut from the stream: `bytes[start, end)`, header included; push what to echo onto `out`. */
  abstract frame(bytes: Buffer, start: number, end: number): void;

  /** Called after a chunk is cut, before the writes: push what is still held back for this chunk. */
  protected chunkCut(): void {}

  private data(chunk: Buffer): void {
    const socket = this.socket;
    if (this.cutter === null) {
      if (!socket.write(chunk)) socket.pause();
      return;
    }
    if (!this.cutter.push(chunk, this)) {
      socket.destroy();
      return;
    }
    this.chunkCut();
    const out = this.out;
    if (out.length === 0) return;
    let ok = true;
    if (out.length === 1) {
      ok = socket.write(out[0]);
    } else {
      socket.cork();
      for (let i = 0; i < out.length; i++) ok = socket.write(out[i]);
      socket.uncork();
    }
    out.length = 0;
    if (!ok) socket.pause();
  }
}

/**
 * Listens on {@link SERVER_HOST}:`port`, hands each client's socket to `connect`, announces
 * the port, and on a stop signal destroys every client and closes. Exits 1 when it cannot listen.
 */
export function serveFrameEcho(name: string, port: number, connect: (socket: net.Socket) => void): void {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    connect(socket);
  });

  server.on('error', (error) => {
    process.stderr.write(`${name}: cannot listen on ${SERVER_HOST}:${port}: ${error.message}\n`);
    process.exit(1);
  });
  server.listen({ host: SERVER_HOST, port, backlog: 4096 }, () => {
    announceListening((server.address() as net.AddressInfo).port);
  });

  stopOnSignal(name, async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  });
}
