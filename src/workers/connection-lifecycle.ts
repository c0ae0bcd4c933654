import type { Socket as UdpSocket } from 'node:dgram';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { TLSSocket, connect as tlsConnect } from 'node:tls';
import type { TransportSpec } from '../shared/protocol/transport-spec.js';
import { TlsContexts } from './tls-contexts.js';
import { applySocketOption } from './socket-options.js';
import { SocketOption } from '../shared/protocol/record-kind.js';
import { SessionEvent, WebSocketSession, type SessionHost } from './websocket-session.js';
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
export class ConnectionLifecycle implements InboundHost, WriterHost, SessionHost<ShardConnection> {
  readonly connections = new Map<number, ShardConnection>();
  private readonly tlsContexts = new TlsContexts();
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

  /**
   * ADOPT: takes the socket (a duplicated fd, or the object in single-thread mode), paused.
   * A `transport` (transport-spec.ts) puts TLS and/or WebSocket above it: the handshake
   * starts now, in this shard, and the stream is ready for data once it is done.
   */
  adopt(id: number, fd: number, slot: number, transport: TransportSpec | null = null): void {
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
    let stream: Socket | undefined = socket;
    if (socket !== undefined && transport?.tls != null) {
      try {
        stream = this.secure(socket, transport);
      } catch {
        socket.destroy();
        stream = undefined;
      }
    }
    if (!stream) {
      this.writer.retireSlot(slot);
      this.inbound.reportId(id, transport === null ? ResetReasonCode.ERROR : ResetReasonCode.HANDSHAKE_FAILED);
      return;
    }
    stream.pause();
    const conn = new ShardConnection(id, stream, this.inbound);
    if (stream !== socket) conn.raw = socket!;
    conn.backlogSlot = slot;
    this.connections.set(id, conn);
    this.stats[StatSlot.CONNECTIONS] = this.connections.size;
    if (transport === null) {
      stream.on('data', conn.onData);
    } else {
      this.startHandshake(conn, transport);
    }
    stream.on('drain', () => this.writer.publishBacklog(conn));
    stream.on('end', () => this.peerEnded(conn));
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (conn.resetting) return; // our own cut (cut() reports it)
      const code = error.code;
      if (!conn.ready) this.handshakeFailed(conn);
      else this.gone(conn, code === 'ECONNRESET' || code === 'EPIPE' ? ResetReasonCode.CLOSED_BY_PEER : ResetReasonCode.ERROR);
    });
    stream.on('close', () => {
      if (conn.resetting) return; // our own cut (cut() reports it)
      if (conn.ready) this.gone(conn, ResetReasonCode.CLOSED_BY_PEER);
      else this.handshakeFailed(conn);
    });
    this.inbound.opened(id);
    if (this.shuttingDown) this.close(conn);
  }

  /** The TLS socket over `socket`: a server's (it answers the client's hello) or a client's (it sends one). */
  private secure(socket: Socket, transport: TransportSpec): Socket {
    const tls = transport.tls!;
    const context = this.tlsContexts.get(transport.key, tls);
    const options = tls.options as {
      requestCert?: boolean;
      rejectUnauthorized?: boolean;
      servername?: string;
      host?: string;
      ALPNProtocols?: string[];
    };
    if (transport.role === 'server') {
      return new TLSSocket(socket, {
        isServer: true,
        secureContext: context,
        requestCert: options.requestCert ?? false,
        rejectUnauthorized: options.rejectUnauthorized ?? false,
        ALPNProtocols: options.ALPNProtocols,
      });
    }
    return tlsConnect({
      socket,
      secureContext: context,
      servername: options.servername,
      host: options.host,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      ALPNProtocols: options.ALPNProtocols,
    });
  }

  /**
   * A stream with a handshake (TLS, a WebSocket upgrade, or both): it reads whatever the
   * reader asked until the handshake is done, and what the program sends waits for it.
   */
  private startHandshake(conn: ShardConnection, transport: TransportSpec): void {
    conn.ready = false;
    conn.handshakeTimer = setTimeout(() => this.handshakeFailed(conn), transport.handshakeTimeoutMs);
    const stream = conn.socket;
    const ws = transport.websocket;
    if (ws !== null) {
      const session = new WebSocketSession<ShardConnection>(conn, transport.role, ws, this);
      conn.session = session;
      conn.maxPayload = ws.maxPayload;
      conn.decoder = session.decoder(ws.maxPayload > 0 ? ws.maxPayload : 1024 * 1024);
      stream.on('data', (chunk: Buffer) => (session.upgrading ? session.onHead(chunk) : conn.onData(chunk)));
    } else {
      stream.on('data', conn.onData);
    }
    if (transport.tls !== null) {
      conn.tlsPending = true;
      const verify = transport.role === 'server' && transport.tls.options.requestCert === true && transport.tls.options.rejectUnauthorized === true;
      stream.once(transport.role === 'server' ? 'secure' : 'secureConnect', () => {
        // A bare TLSSocket accepts any client certificate (tls.Server checks it in its own
        // 'secure' handler, which we do not have): a rendezvous that asks for a verified one
        // checks it here.
        if (verify && !clientVerified(stream as TLSSocket)) {
          this.handshakeFailed(conn);
          return;
        }
        conn.tlsPending = false;
        this.transportUp(conn);
      });
    } else {
      this.transportUp(conn);
    }
    stream.resume();
  }

  /** TCP (and TLS, if any) is up: a WebSocket client sends its upgrade; without WebSocket the stream is ready. */
  private transportUp(conn: ShardConnection): void {
    if (conn.state === ConnectionState.GONE) return;
    const session = conn.session;
    if (session === null) {
      if (conn.closeWhenReady) this.closeReady(conn);
      else this.ready(conn);
    } else if (session.role === 'client') conn.socket.write(session.request());
  }

  /** SessionHost: the upgrade is done. */
  upgraded(conn: ShardConnection, leftover: Uint8Array | null): void {
    if (conn.closeWhenReady) {
      this.closeReady(conn); // what came after the upgrade is discarded, as after any close
      return;
    }
    if (conn.state !== ConnectionState.OPEN) return;
    this.ready(conn);
    if (leftover === null) return;
    if (conn.reading) conn.onData(leftover as Buffer);
    else conn.pendingInput = leftover;
  }

  /** The handshake is over: the socket reads only as the reader asks, and what waited goes out. */
  private ready(conn: ShardConnection): void {
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    conn.ready = true;
    if (!conn.reading || conn.blocked) conn.socket.pause();
    this.writer.flush(conn);
  }

  /** SessionHost: the upgrade was refused (a server answers `response`) or broken. */
  upgradeFailed(conn: ShardConnection, response: Uint8Array | null): void {
    this.stats[StatSlot.UPGRADES_REJECTED]++;
    if (conn.closeWhenReady) {
      // Closed already (CLOSED is out): the refusal goes out, what waited is dropped.
      conn.closeWhenReady = false;
      this.endStream(conn, response, true);
      return;
    }
    this.finish(conn, ResetReasonCode.HANDSHAKE_FAILED, response, true);
  }

  /** The TLS handshake failed, or the handshake outlived handshakeTimeoutMs. */
  private handshakeFailed(conn: ShardConnection): void {
    if (conn.ready || conn.resetting || conn.state === ConnectionState.GONE) return;
    this.stats[conn.tlsPending ? StatSlot.TLS_FAILURES : StatSlot.UPGRADES_REJECTED]++;
    this.cut(conn, ResetReasonCode.HANDSHAKE_FAILED);
  }

  /** SessionHost: a control frame (a pong) at a frame boundary: it goes out now. */
  control(conn: ShardConnection, frame: Uint8Array): void {
    if (conn.state !== ConnectionState.OPEN && conn.state !== ConnectionState.HALF_CLOSED) return;
    conn.lastActivity = this.inbound.clock; // a client that pings is not idle
    this.writer.append(conn, frame, 0, frame.length);
    this.writer.flush(conn);
  }

  /** InboundHost: the decoder saw the peer's close frame, or a violation. */
  sessionEvent(conn: ShardConnection): void {
    const session = conn.session!;
    const event = session.takeEvent();
    if (event === SessionEvent.PEER_CLOSED) {
      // As a FIN: the main thread sees the end after the last message; replies still go
      // out until it releases the stream, then our close frame answers the peer's.
      if (conn.state !== ConnectionState.OPEN) return;
      conn.state = ConnectionState.HALF_CLOSED;
      conn.reason = ResetReasonCode.CLOSED_BY_PEER;
      this.inbound.report(conn);
      if (this.shuttingDown) this.close(conn);
    } else if (event === SessionEvent.VIOLATED) {
      this.stats[session.code === 1007 ? StatSlot.WS_INVALID_UTF8 : StatSlot.WS_PROTOCOL_ERRORS]++;
      this.closeWebSocket(conn, ResetReasonCode.PROTOCOL_ERROR, session.code);
    }
  }

  /**
   * Ends a WebSocket stream with a close frame of `code` after what is queued: at a frame
   * boundary; in the middle of a frame (its last parts still to come) it is cut instead.
   */
  private closeWebSocket(conn: ShardConnection, reason: number, code: number): void {
    const session = conn.session!;
    if (session.outRemaining !== 0 || session.upgrading) {
      this.cut(conn, reason);
      return;
    }
    this.finish(conn, reason, session.closeFrame(code), false);
  }

  /** READ: start reading with the reader's settings, or stop. */
  setReading(conn: ShardConnection, on: boolean, bytes: Uint8Array, offset: number): void {
    if (conn.state !== ConnectionState.OPEN) return;
    if (on) {
      const settings = readReadSettings(bytes, offset);
      // The reader's framing (its settings changed, or the connection joined it) applies to
      // the bytes received from now on; the decoder places the change in the stream. A
      // WebSocket message is one datagram whatever the header size: only the limit applies.
      const max = conn.maxPayload > 0 ? Math.min(conn.maxPayload, settings.maxDatagramSize) : settings.maxDatagramSize;
      conn.decoder.setFraming({ headerSize: settings.raw ? 0 : settings.headerSize, maxDatagramSize: max });
      conn.reading = true;
      conn.lastActivity = this.inbound.clock;
      if (!conn.ready) return; // the handshake reads; ready() applies this
      const pending = conn.pendingInput;
      if (pending !== null) {
        conn.pendingInput = null;
        conn.onData(pending as Buffer);
      }
      if (!conn.blocked && conn.state === ConnectionState.OPEN) conn.socket.resume();
    } else {
      conn.reading = false;
      if (conn.ready) conn.socket.pause();
    }
  }

  /**
   * CLOSE (closeConnection) or SHUTDOWN: everything queued goes out, then our FIN (a
   * WebSocket stream's close frame before it). Input is read and discarded (unread bytes
   * would make the kernel answer with RST). The main thread has forgotten the connection:
   * CLOSED ('closed-locally') is reported now. A CLOSE during the TLS handshake or the
   * WebSocket upgrade waits for it (handshakeTimeoutMs still bounds it), as what the
   * program sent before does: then all of that goes out, and the close after it.
   */
  close(conn: ShardConnection): void {
    const session = conn.session;
    if (session !== null && conn.state === ConnectionState.HALF_CLOSED && session.code !== 0) {
      // The peer closed first: answer its close frame with its code, as the RFC asks.
      const code = session.code === 1005 ? 1000 : session.code;
      this.finish(conn, ResetReasonCode.CLOSED_LOCALLY, session.closeFrame(code), false);
      return;
    }
    if (session !== null && session.outRemaining !== 0) {
      this.cut(conn, ResetReasonCode.CLOSED_LOCALLY);
      return;
    }
    if (conn.closeWhenReady) {
      // SHUTDOWN while a CLOSE waits for the handshake: end it now, dropping what waited.
      if (this.shuttingDown) this.endStream(conn, null, true);
      return;
    }
    if (!conn.ready && conn.state === ConnectionState.OPEN && !this.shuttingDown) {
      conn.state = ConnectionState.CLOSING;
      conn.reason = ResetReasonCode.CLOSED_LOCALLY;
      conn.closeWhenReady = true;
      this.inbound.report(conn);
      return;
    }
    this.finish(conn, ResetReasonCode.CLOSED_LOCALLY, session?.closeFrame(1000) ?? null, !conn.ready);
  }

  /** The handshake of a stream closed during it is done: what waited goes out, then the close frame (WebSocket) and our FIN. */
  private closeReady(conn: ShardConnection): void {
    conn.closeWhenReady = false;
    this.endStream(conn, conn.session?.closeFrame(1000) ?? null, false);
  }

  /**
   * Ends `conn` gracefully: CLOSED with `reason` (when it was open), what is queued, then
   * `last` (a close frame, an HTTP error), then our FIN; it lingers as closeLingerMs says.
   * `discard`: what the program sent is dropped (the handshake never finished).
   */
  private finish(conn: ShardConnection, reason: number, last: Uint8Array | null, discard: boolean): void {
    const state = conn.state;
    if (state !== ConnectionState.OPEN && state !== ConnectionState.HALF_CLOSED) return;
    conn.state = ConnectionState.CLOSING;
    if (state === ConnectionState.OPEN) {
      conn.reason = reason;
      conn.decoder.reset();
      this.inbound.report(conn);
    }
    this.endStream(conn, last, discard);
  }

  /**
   * The end of a CLOSING stream: the handshake is over (its timer stops), what is queued
   * goes out (or is dropped: `discard`), then `last`, then our FIN.
   */
  private endStream(conn: ShardConnection, last: Uint8Array | null, discard: boolean): void {
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    if (discard) {
      conn.out = null;
      conn.outLength = 0;
    }
    conn.ready = true;
    if (last !== null) this.writer.append(conn, last, 0, last.length);
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
    // A FIN before the TLS handshake or the WebSocket upgrade is done (also one closed
    // during it): the handshake failed, as when the socket closes or errs then (not
    // 'closed-by-peer', and counted once, not left to the handshake timer, which raced the
    // main thread's release of the stream). A server that does not speak WebSocket, or a
    // TLS server spoken to in the clear, hangs up so on a client.
    if (!conn.ready) {
      this.handshakeFailed(conn);
      return;
    }
    if (conn.state !== ConnectionState.OPEN) return; // closing: autoDestroy ends it once written
    conn.state = ConnectionState.HALF_CLOSED;
    conn.reason = ResetReasonCode.CLOSED_BY_PEER;
    this.inbound.report(conn);
    if (this.shuttingDown) this.close(conn);
  }

  /** Cuts `conn` (a limit broke, or a closing peer stalled): RST, then CLOSED with `reason`. */
  cut(conn: ShardConnection, reason: number): void {
    if (conn.state === ConnectionState.GONE) return;
    if (
      reason === ResetReasonCode.OVERSIZED_DATAGRAM &&
      conn.session !== null &&
      conn.state === ConnectionState.OPEN &&
      conn.session.outRemaining === 0 &&
      !conn.session.upgrading
    ) {
      // RFC 6455: a message too big closes with 1009, before any of its body is buffered.
      this.finish(conn, reason, conn.session.closeFrame(1009), false);
      return;
    }
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    conn.decoder.reset();
    // The socket's handlers must see the connection as being cut, not fail it again.
    conn.resetting = true;
    if (conn.raw !== null) {
      // A TLS stream: its resetAndDestroy throws (its handle is TLS's), and resetting the TCP
      // socket under a live TLS handle crashes the process. SO_LINGER 0 on the TCP socket
      // makes the close that destroy() does a reset (RST).
      applySocketOption(conn.raw, false, SocketOption.LINGER, 1, 0);
    } else {
      try {
        conn.socket.resetAndDestroy();
      } catch {
        // not connected any more: nothing to reset
      }
    }
    conn.socket.destroy();
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
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
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

/**
 * Whether a server-side TLS socket's client certificate verified against the context's CA:
 * tls.Server works this out in its own 'secure' handler (from the handle's verifyError()),
 * which a TLSSocket made on its own does not run, so `authorized` stays false.
 */
function clientVerified(stream: TLSSocket): boolean {
  const handle = (stream as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (handle?.verifyError === undefined) return false;
  return handle.verifyError() === null && stream.getPeerCertificate() !== null && Object.keys(stream.getPeerCertificate()).length > 0;
}
