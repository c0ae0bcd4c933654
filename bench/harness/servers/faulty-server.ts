/**
 * A deliberately faulty echo server, for the harness's self-tests: the soak workload must
 * catch what it does. Otherwise it is plain-net-server.ts (same framing, same cutter).
 *
 *   node dist/harness/servers/faulty-server.js [--port 0] [--header-size 2|4]
 *
 * Exactly what it does wrong. Datagrams are numbered n = 1, 2, 3, … in the order the
 * server cuts them from the sockets, one count over ALL connections (global, not per
 * connection). Then:
 * - every n that is a multiple of 1000 (1000, 2000, 3000, …) is dropped: never echoed;
 * - every other n that is a multiple of 1500 (1500, 4500, 7500, …; 3000 and 6000 are
 *   dropped instead) is held back and echoed right after the next datagram its connection
 *   echoes, which swaps one adjacent pair of that connection's echoes. If the connection
 *   already holds one back, the new one is echoed normally (and the held one follows it);
 *   a datagram held when its connection closes is lost with it.
 * Everything else is echoed unchanged and in order. Raw mode (header size 0) has no
 * datagrams to drop, so it is refused with exit code 2.
 */
import net from 'node:net';
import { FrameCutter, type FrameSink } from './frame-cutter.js';
import { SERVER_HOST, announceListening, parseServerOptions, stopOnSignal } from './server-options.js';

const NAME = 'faulty-server';
/** Every DROP_EVERY-th datagram (global count) is never echoed. */
const DROP_EVERY = 1000;
/** Every SWAP_EVERY-th datagram (global count) is echoed after the one that follows it. */
const SWAP_EVERY = 1500;

const options = parseServerOptions(NAME, process.argv.slice(2), false);
if (options.headerSize === 0) {
  process.stderr.write(`${NAME}: --header-size 0 (raw mode) has no datagrams to drop or swap; use 2 or 4\n`);
  process.exit(2);
}
const headerSize = options.headerSize;
const sockets = new Set<net.Socket>();
/** Datagrams cut so far, over every connection. */
let count = 0;

class FaultyConnection implements FrameSink {
  private readonly cutter = new FrameCutter(headerSize);
  private readonly out: Buffer[] = [];
  /** The datagram held back to be echoed after the next one, or null. */
  private held: Buffer | null = null;

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('drain', () => socket.resume());
  }

  frame(bytes: Buffer, start: number, end: number): void {
    count++;
    if (count % DROP_EVERY === 0) return;
    const frame = bytes.subarray(start, end);
    if (count % SWAP_EVERY === 0 && this.held === null) {
      this.held = frame;
      return;
    }
    this.out.push(frame);
    if (this.held !== null) {
      this.out.push(this.held);
      this.held = null;
    }
  }

  private data(chunk: Buffer): void {
    const socket = this.socket;
    if (!this.cutter.push(chunk, this)) {
      socket.destroy();
      return;
    }
    const out = this.out;
    if (out.length === 0) return;
    let ok = true;
    socket.cork();
    for (let i = 0; i < out.length; i++) ok = socket.write(out[i]);
    socket.uncork();
    out.length = 0;
    if (!ok) socket.pause();
  }
}

const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('close', () => sockets.delete(socket));
  new FaultyConnection(socket);
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
