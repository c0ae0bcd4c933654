/**
 * The baseline of `--compare`: the simplest echo server a team would write with
 * `node:net` on one thread, written efficiently. It cuts the stream into Panda3D frames
 * in place (frame-cutter.ts: a split frame is concatenated once, nothing else is copied)
 * and writes every frame back to its sender. Frames that follow each other in a chunk go
 * back as one slice of that chunk, and all of one data event's writes are corked into a
 * single writev. When the socket's write buffer is full it stops reading that socket
 * until it drains, so a client that does not read cannot grow the server's memory.
 *
 *   node bench/dist/servers/plain-net-server.js [--port 0] [--header-size 0|2|4]
 *
 * Header size 0 is raw mode: every chunk read goes back as it is. A header announcing
 * more than the limit (65535 with u16, 16 MiB with u32) closes that connection.
 */
import type net from 'node:net';
import { FrameEchoConnection, serveFrameEcho } from './frame-echo-server.js';
import { parseServerOptions } from './server-options.js';

const NAME = 'plain-net-server';
const options = parseServerOptions(NAME, process.argv.slice(2), false);

/** Echoes every frame; frames that follow each other in a chunk go back as one slice. */
class EchoConnection extends FrameEchoConnection {
  private run: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;

  constructor(socket: net.Socket) {
    super(socket, options.headerSize);
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

  protected override chunkCut(): void {
    if (this.run !== null) {
      this.out.push(this.run.subarray(this.runStart, this.runEnd));
      this.run = null;
    }
  }
}

serveFrameEcho(NAME, options.port, (socket) => new EchoConnection(socket));
