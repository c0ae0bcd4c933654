/**
 * A deliberately faulty echo server, for the harness's self-tests: the soak workload must
 * catch what it does. Otherwise it is plain-net-server.ts (same framing, same cutter).
 *
 *   node bench/dist/servers/faulty-server.js [--port 0] [--header-size 2|4]
 *
 * Exactly what it does wrong. Datagrams are numbered n = 1, 2, 3, … in the order the
 * server cuts them from the sockets, one count over ALL connections (global, not per
 * connection). Then:
 * - every n that is a multiple of 1000 (1000, 2000, 3000, …) is dropped: never echoed;
 * - every other n that is a multiple of 1500 (1500, 4500, 7500, …; 3000 and 6000 are
 *   dropped instead) is held back and echoed right after the next datagram its connection
 *   echoes, which swaps one adjacent pair of that connection's echoes. If the connection
 *   already holds one back, the new one is echoed normally (and the held one follows it);
 *   a datagram held when its connection closes is lost with it;
 * - every other n that is a multiple of 1700 (1700, 3400, …) is echoed twice in a row.
 * Everything else is echoed unchanged and in order. Raw mode (header size 0) has no
 * datagrams to drop, so it is refused with exit code 2.
 */
import type net from 'node:net';
import { FrameEchoConnection, serveFrameEcho } from './frame-echo-server.js';
import { parseServerOptions } from './server-options.js';

const NAME = 'faulty-server';
/** Every DROP_EVERY-th datagram (global count) is never echoed. */
const DROP_EVERY = 1000;
/** Every SWAP_EVERY-th datagram (global count) is echoed after the one that follows it. */
const SWAP_EVERY = 1500;
/** Every DUPLICATE_EVERY-th datagram (global count) is echoed twice. */
const DUPLICATE_EVERY = 1700;

const options = parseServerOptions(NAME, process.argv.slice(2), false);
if (options.headerSize === 0) {
  process.stderr.write(`${NAME}: --header-size 0 (raw mode) has no datagrams to drop or swap; use 2 or 4\n`);
  process.exit(2);
}
const headerSize = options.headerSize;
/** Datagrams cut so far, over every connection. */
let count = 0;

class FaultyConnection extends FrameEchoConnection {
  /** The datagram held back to be echoed after the next one, or null. */
  private held: Buffer | null = null;

  constructor(socket: net.Socket) {
    super(socket, headerSize);
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
    if (count % DUPLICATE_EVERY === 0) this.out.push(frame);
    if (this.held !== null) {
      this.out.push(this.held);
      this.held = null;
    }
  }
}

serveFrameEcho(NAME, options.port, (socket) => new FaultyConnection(socket));
