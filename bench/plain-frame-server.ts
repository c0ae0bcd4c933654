import net from 'node:net';
import type { CountedServer } from './counted-server.js';

/**
 * The baseline for the network benches: the simplest server a team would write with
 * `node:net` on one thread. Per connection, a pending Buffer holds the tail of a frame
 * split across chunks; only that frame is concatenated (with just the bytes that complete
 * it), every other frame is parsed in place in the chunk. Frames are Panda3D's: a u16
 * little-endian length, then the payload. It counts datagrams and payload bytes.
 */
export class PlainFrameServer implements CountedServer {
  readonly mode = 'node:net';
  /** Datagrams parsed since the server opened. */
  datagrams = 0;
  /** Payload bytes of those datagrams. */
  bytes = 0;
  /** Connections accepted and not yet closed. */
  connections = 0;
  /** Connections ever accepted. */
  accepted = 0;
  readonly port: number;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {
    this.port = (server.address() as net.AddressInfo).port;
    server.on('connection', (socket: net.Socket) => this.attach(socket));
  }

  /** Listens on 127.0.0.1 and an ephemeral port. */
  static async open(backlog = 4096): Promise<PlainFrameServer> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new PlainFrameServer(server);
  }

  /** Connections open now. */
  connected(): number {
    return this.connections;
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private attach(socket: net.Socket): void {
    this.sockets.add(socket);
    this.connections++;
    this.accepted++;
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.connections--;
    });
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      let datagrams = 0;
      let bytes = 0;
      let off = 0;
      if (pending !== null) {
        // A frame was split: complete it from the head of this chunk, and only it.
        const have = pending.length;
        if (have + chunk.length < 2) {
          pending = Buffer.concat([pending, chunk]);
          return;
        }
        const length = have >= 2 ? pending[0] | (pending[1] << 8) : pending[0] | (chunk[0] << 8);
        const missing = 2 + length - have;
        if (chunk.length < missing) {
          pending = Buffer.concat([pending, chunk]);
          return;
        }
        const frame = Buffer.concat([pending, chunk.subarray(0, missing)], 2 + length);
        pending = null;
        datagrams++;
        bytes += frame.length - 2;
        off = missing;
      }
      const end = chunk.length;
      while (end - off >= 2) {
        const length = chunk[off] | (chunk[off + 1] << 8);
        const next = off + 2 + length;
        if (next > end) break;
        datagrams++;
        bytes += length;
        off = next;
      }
      if (off < end) pending = chunk.subarray(off);
      this.datagrams += datagrams;
      this.bytes += bytes;
    });
  }
}
