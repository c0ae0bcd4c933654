/**
 * The baseline of `--compare`: the simplest echo server a team would write with
 * `node:net` on one thread, written efficiently. It cuts the stream into Panda3D frames
 * in place (frame-cutter.ts: a split frame is concatenated once, nothing else is copied)
 * and writes every frame back to its sender. Frames that follow each other in a chunk go
 * back as one slice of that chunk, and all of one data event's writes are corked into a
 * single writev. When the socket's write buffer is full it stops reading that socket
 * until it drains, so a client that does not read cannot grow the server's memory.
 *
 *   node dist/harness/servers/plain-net-server.js [--port 0] [--header-size 0|2|4]
 *
 * Header size 0 is raw mode: every chunk read goes back as it is. A header announcing
 * more than the limit (65535 with u16, 16 MiB with u32) closes that connection.
 */
import net from 'node:net';
import { FrameCutter, type FrameSink } from './frame-cutter.js';
import { SERVER_HOST, announceListening, parseServerOptions, stopOnSignal } from './server-options.js';

const NAME = 'plain-net-server';
const options = parseServerOptions(NAME, process.argv.slice(2), false);
const sockets = new Set<net.Socket>();

/** One client: its cutter, and the slices to write back at the end of the data event. */
class EchoConnection implements FrameSink {
  private readonly cutter: FrameCutter | null;
  private readonly out: Buffer[] = [];
  private run: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  constructor(private readonly socket: net.Socket) {
    this.cutter = options.headerSize === 0 ? null : new FrameCutter(options.headerSize);
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('drain', () => socket.resume());
  }

  /** A frame: extend the current run when it follows it in the same buffer. */
  frame(bytes: Buffer, start: number, end: number): void {
    if (bytes === this.run && start === this.runEnd) {
      this.runEnd = end;
      return;
    }
    if (this.run !== null) this.out.push(this.run.subarray(this.runStart, this.runEnd));
    this.run = bytes;
    this.runStart = start;
    this.runEnd = end;
  }

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
    if (this.run !== null) {
      this.out.push(this.run.subarray(this.runStart, this.runEnd));
      this.run = null;
    }
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

const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
  new EchoConnection(socket);
});

server.on('error', (error) => {
  process.stderr.write(`${NAME}: cannot listen on ${SERVER_HOST}:${options.port}: ${error.message}\n`);
  process.exit(1);
});
server.listen({ host: SERVER_HOST, port: options.port, backlog: 4096 }, () => {
  announceListening((server.address() as net.AddressInfo).port);
});

stopOnSignal(NAME, async () => {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  await closed;
});
