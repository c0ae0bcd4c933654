import type { Socket as UdpSocket } from 'node:dgram';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { closeQuietly } from '../shared/close-fd.js';
import { readReadSettings } from '../shared/protocol/read-record.js';
import { ResetReasonCode } from '../shared/reset-reason.js';
import { StatSlot } from '../shared/protocol/shard-stats.js';
import type { InboundHost, InboundWriter } from './inbound-writer.js';
import { ConnectionState, ShardConnection } from './shard-connection.js';
import type { SocketWriter, WriterHost } from './socket-writer.js';

/** Socket objects handed over in-process (single-thread mode), by connection id. */
export type LocalSockets = Map<number, Socket | UdpSocket>;

/**
 * Every transition of a shard's TCP connections (shard-connection.ts draws them): adopt,
 * read, close, the peer's FIN, the main thread's release, cuts, the socket's end, shutdown.
 * Holds the connections by id.
 */
export class ConnectionLifecycle implements InboundHost, WriterHost {
  readonly connections = new Map<number, ShardConnection>();
  private inbound!: InboundWriter;
  private writer!: SocketWriter;
  private shuttingDown = false;

  constructor(
    private readonly stats: Float64Array,
    private readonly localSockets: LocalSockets | null,
    /** Called when something the shard's shutdown waits for has happened. */
    private readonly onProgress: () => void,
  ) {}

  /** Wires the two halves this lifecycle drives (they call back into it). */
  attach(inbound: InboundWriter, writer: SocketWriter): void {
    this.inbound = inbound;
    this.writer = writer;
  }

  /** ADOPT: takes the socket (a duplicated fd, or the object in single-thread mode), paused. */
  adopt(id: number, fd: number, slot: number): void {
    let socket: Socket | undefined;
    if (fd >= 0) {
      try {
        // pauseOnCreate: nothing is read before a READ record asks for it. allowHalfOpen:
        // a peer's FIN must not end our side; replies to its last datagrams still go out.
        socket = new Socket({ fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true } as SocketConstructorOpts);
      } catch {
        // A descriptor that cannot be opened fails that connection alone, never the shard;
        // it is ours alone, so close it, or it leaks.
        closeQuietly(fd);
        socket = undefined;
      }
    } else {
      socket = this.localSockets?.get(id) as Socket | undefined;
      this.localSockets?.delete(id);
    }
    if (!socket) {
      this.writer.retireSlot(slot);
      this.inbound.reportId(id, ResetReasonCode.ERROR);
      return;
    }
    socket.pause();
    const conn = new ShardConnection(id, socket, this.inbound);
    conn.backlogSlot = slot;
    this.connections.set(id, conn);
    this.stats[StatSlot.CONNECTIONS] = this.connections.size;
    socket.on('data', conn.onData);
    socket.on('drain', () => this.writer.publishBacklog(conn));
    socket.on('end', () => this.peerEnded(conn));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code;
      this.gone(conn, code === 'ECONNRESET' || code === 'EPIPE' ? ResetReasonCode.CLOSED_BY_PEER : ResetReasonCode.ERROR);
    });
    socket.on('close', () => this.gone(conn, ResetReasonCode.CLOSED_BY_PEER));
    this.inbound.opened(id);
    if (this.shuttingDown) this.close(conn);
  }

  /** READ: start reading with the reader's settings, or stop. */
  setReading(conn: ShardConnection, on: boolean, bytes: Uint8Array, offset: number): void {
    if (conn.state !== ConnectionState.OPEN) return;
    if (on) {
      const settings = readReadSettings(bytes, offset);
      // The reader's framing (its settings changed, or the connection joined it) applies to
      // the bytes received from now on; the decoder places the change in the stream.
      conn.decoder.setFraming({ headerSize: settings.raw ? 0 : settings.headerSize, maxDatagramSize: settings.maxDatagramSize });
      conn.reading = true;
      conn.lastActivity = this.inbound.clock;
      if (!conn.blocked) conn.socket.resume();
    } else {
      conn.reading = false;
      conn.socket.pause();
    }
  }

  /**
   * CLOSE (closeConnection) or SHUTDOWN: everything queued goes out, then our FIN. Input is
   * read and discarded (unread bytes would make the kernel answer with RST). The main
   * thread has forgotten the connection: CLOSED ('closed-locally') is reported now.
   */
  close(conn: ShardConnection): void {
    const state = conn.state;
    if (state !== ConnectionState.OPEN && state !== ConnectionState.HALF_CLOSED) return;
    conn.state = ConnectionState.CLOSING;
    if (state === ConnectionState.OPEN) {
      conn.reason = ResetReasonCode.CLOSED_LOCALLY;
      conn.decoder.reset();
      this.inbound.report(conn);
    }
    this.writer.flush(conn);
    if (conn.state !== ConnectionState.CLOSING) return; // the flush cut it
    conn.socket.resume();
    conn.socket.end();
    this.writer.closing(conn);
  }

  /**
   * RELEASE: the main thread has seen CLOSED, so no SEND follows and it reads the backlog
   * slot no more: the slot is retired, and a half-closed peer gets our FIN.
   */
  release(conn: ShardConnection): void {
    this.retire(conn);
    if (conn.state === ConnectionState.HALF_CLOSED) this.close(conn);
  }

  /**
   * The peer sent FIN. The main thread sees the connection end ('closed-by-peer') after its
   * last datagram, but the socket still writes until the main thread releases it: a
   * half-closed peer may be reading, and replies to what it sent before its FIN go out,
   * their backlog published as before (the main thread's send limits judge them).
   */
  private peerEnded(conn: ShardConnection): void {
    if (conn.state !== ConnectionState.OPEN) return; // closing: autoDestroy ends it once written
    conn.state = ConnectionState.HALF_CLOSED;
    conn.reason = ResetReasonCode.CLOSED_BY_PEER;
    this.inbound.report(conn);
    if (this.shuttingDown) this.close(conn);
  }

  /** Cuts `conn` (a limit broke, or a closing peer stalled): RST, then CLOSED with `reason`. */
  cut(conn: ShardConnection, reason: number): void {
    if (conn.state === ConnectionState.GONE) return;
    conn.decoder.reset();
    try {
      conn.socket.resetAndDestroy();
    } catch {
      conn.socket.destroy(); // not connected any more: nothing to reset
    }
    this.gone(conn, reason);
  }

  /** WriterHost: a closing connection wrote everything; its peer never sent FIN. */
  lingerOver(conn: ShardConnection): void {
    if (conn.state !== ConnectionState.GONE) conn.socket.destroy();
  }

  /** The socket is gone (closed, failed, or cut). */
  private gone(conn: ShardConnection, reason: number): void {
    const state = conn.state;
    if (state === ConnectionState.GONE) return;
    conn.state = ConnectionState.GONE;
    if (!conn.socket.destroyed) conn.socket.destroy();
    this.writer.drop(conn);
    if (conn.reported) {
      this.remove(conn);
      return;
    }
    if (state === ConnectionState.OPEN) conn.reason = reason;
    this.inbound.report(conn);
  }

  /**
   * InboundHost: CLOSED is out; a gone socket leaves. One that still writes (a half-closed
   * peer) keeps publishing its backlog: the main thread reads it until it takes the CLOSED.
   */
  reported(conn: ShardConnection): void {
    if (conn.state === ConnectionState.GONE) this.remove(conn);
  }

  /** InboundHost: see the constructor's onProgress. */
  progressed(): void {
    this.onProgress();
  }

  /** `conn` publishes its backlog no more: its slot goes back to the main thread. */
  private retire(conn: ShardConnection): void {
    this.writer.retireSlot(conn.backlogSlot);
    conn.backlogSlot = -1;
  }

  private remove(conn: ShardConnection): void {
    if (this.connections.get(conn.id) !== conn) return;
    this.retire(conn);
    this.connections.delete(conn.id);
    this.stats[StatSlot.CONNECTIONS] = this.connections.size;
    this.onProgress();
  }

  /** SHUTDOWN: every connection closes gracefully; later adopts and FINs close at once. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const conn of this.connections.values()) this.close(conn);
  }

  /** The shutdown deadline passed: cut whatever still lingers. */
  cutAll(): void {
    for (const conn of [...this.connections.values()]) this.cut(conn, ResetReasonCode.CLOSED_LOCALLY);
  }

  /** Resets every read connection that has completed no datagram for `limit` ms. */
  sweepIdle(now: number, limit: number): void {
    for (const conn of this.connections.values()) {
      // A blocked connection is silent because we stopped reading it, not because its peer is.
      if (conn.reading && !conn.blocked && conn.state === ConnectionState.OPEN && now - conn.lastActivity > limit) {
        this.cut(conn, ResetReasonCode.IDLE_TIMEOUT);
      }
    }
  }
}
