/**
 * The harness's TCP client: ringwire's own client side, so the load generator is not the
 * bottleneck. One QueuedConnectionManager opens every connection; a QueuedConnectionReader
 * with `clientShards` worker shards reads them, and one ConnectionWriter sends. Echoes
 * are consumed with `reader.drain(visitor)`: no copy and no allocation per datagram.
 *
 * Header size 0 puts the reader and the writer in raw mode: a datagram is then whatever
 * one socket read returned, and only bytes can be counted.
 */
import type { Connection } from 'ringwire';
import type { ClientSink } from './client-transport.js';
import { RingwireClientBase, type RingwireClientBaseOptions } from './ringwire-client-base.js';

export interface TcpClientOptions extends RingwireClientBaseOptions {
  host: string;
  port: number;
  headerSize: 0 | 2 | 4;
}

export class TcpClient extends RingwireClientBase {
  readonly transport = 'tcp' as const;

  constructor(
    private readonly options: TcpClientOptions,
    sink: ClientSink,
  ) {
    super(options, sink);
    if (options.headerSize === 0) {
      this.reader.setRawMode(true);
      this.writer.setRawMode(true);
    } else {
      this.reader.setTcpHeaderSize(options.headerSize);
      this.writer.setTcpHeaderSize(options.headerSize);
    }
  }

  async connect(index: number, timeoutMs: number): Promise<boolean> {
    if (this.closing !== null) return false;
    let conn: Connection | null;
    try {
      conn = await this.manager.openTCPClientConnection(this.options.host, this.options.port, timeoutMs);
    } catch (error) {
      // Only a manager closed meanwhile throws here.
      this.error = error as Error;
      return false;
    }
    if (!this.adopt(conn, index, 'connection')) return false;
    conn.setNoDelay(true);
    return true;
  }

  send(index: number, bytes: Uint8Array, length: number): boolean {
    const conn = this.connections[index];
    if (conn === null) return false;
    this.outgoing.assign(bytes, 0, length);
    return this.writer.send(this.outgoing, conn);
  }
}
