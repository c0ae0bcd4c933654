/**
 * The harness's UDP client (`--udp`): ringwire's own UDP side. Each harness connection is
 * one UDP socket on an ephemeral port (`openUDPConnection(anyAddress, 0)`, as in Panda3D),
 * and every send names the server (`send(dg, conn, server)`); ringwire frames each datagram as one Panda3D UDP packet (a u16 LE
 * checksum header, then the payload) and checks the header of every echo. A
 * QueuedConnectionReader with `clientShards` worker shards reads the sockets, and echoes
 * are consumed with `reader.drain(visitor)`: no copy and no allocation per datagram.
 *
 * UDP has no connection to open or lose: `connect` only binds the socket (it never waits
 * for the server), and a reset means the socket itself failed. An echo that never comes
 * is lost; one whose checksum fails is dropped by the reader and counted in `udpDrops()`.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { type Connection, NetAddress } from 'ringwire';
import type { UdpDrops } from '../report.js';
import type { ClientSink } from './client-transport.js';
import { RingwireClientBase, type RingwireClientBaseOptions } from './ringwire-client-base.js';

export interface UdpClientOptions extends RingwireClientBaseOptions {
  host: string;
  port: number;
}

export class UdpClient extends RingwireClientBase {
  readonly transport = 'udp' as const;
  /** The server's address, resolved once. */
  private readonly server = new NetAddress();
  private resolved = false;

  constructor(
    private readonly options: UdpClientOptions,
    sink: ClientSink,
  ) {
    super(options, sink);
  }

  async connect(index: number): Promise<boolean> {
    if (this.closing !== null) return false;
    let conn: Connection | null;
    try {
      if (!this.resolved) {
        const ip = net.isIP(this.options.host) ? this.options.host : (await lookup(this.options.host)).address;
        this.server.setHost(ip, this.options.port);
        this.resolved = true;
      }
      // Panda3D's way: an ephemeral port on the server's side of the stack, and the server's
      // address given to every send.
      conn = await this.manager.openUDPConnection(this.server.getIpString().includes(':') ? '::' : '0.0.0.0', 0);
    } catch (error) {
      // A manager closed meanwhile, or a port ringwire refuses.
      this.error = error as Error;
      return false;
    }
    return this.adopt(conn, index, 'UDP socket');
  }

  send(index: number, bytes: Uint8Array, length: number): boolean {
    const conn = this.connections[index];
    if (conn === null) return false;
    this.outgoing.assign(bytes, 0, length);
    return this.writer.send(this.outgoing, conn, this.server);
  }

  udpDrops(): UdpDrops {
    const stats = this.manager.getStats();
    return { rejected: stats.udpRejected, overflow: stats.udpOverflow };
  }
}
