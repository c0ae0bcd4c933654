import { describeValue } from '../../shared/describe-value.js';
import { Datagram } from '../../shared/datagram.js';
import { assertHeaderSize, maxPayloadForHeader, type HeaderSize } from '../../shared/frame-encoder.js';
import { MAXIMUM_UDP_DATAGRAM, MAX_UDP_PAYLOAD, UDP_ZONE_MAX, udpAddressSize } from '../../shared/protocol/udp-framing.js';
import { ResetReasonCode } from '../../shared/reset-reason.js';
import { maxRecordPayload } from '../../shared/protocol/ring-layout.js';
import { Framing } from '../../shared/protocol/transport-spec.js';
import { frameHeaderSize } from '../../shared/websocket-frame-encoder.js';
import { ConnectionGroup } from './connection-group.js';
import { Connection } from './connection.js';
import type { ShardHandle } from '../shards/shard-handle.js';
import { NetAddress } from './net-address.js';
import { checkManager, type QueuedConnectionManager } from './queued-connection-manager.js';
import { checkThreads } from '../core/thread-count.js';
import { ErrorCode, RingwireError, RingwireRangeError, RingwireTypeError } from '../../shared/errors.js';

/** How many bytes may be sent to a connection between two looks at its backlog (hard limit). */
const BACKLOG_CHECK_BYTES = 64 * 1024;

/** Panda3D's net-max-write-queue. */
const DEFAULT_MAX_QUEUE_SIZE = 10000;

/**
 * Sends datagrams (Panda3D's ConnectionWriter). `send` frames the datagram straight into
 * the owning shard's outbound ring; the shard writes it, coalesced with the rest of that
 * turn's datagrams for the same socket.
 */
export class ConnectionWriter {
  private headerSize: HeaderSize = 2;
  private raw = false;
  private maxQueueSize = DEFAULT_MAX_QUEUE_SIZE;
  /** setMaxSendBacklog's limit; Infinity when off. */
  private maxSendBacklog = Infinity;
  /** The header written on the wire (0 in raw mode) and the largest payload it can announce. */
  private wireHeader: HeaderSize = 2;
  private maxPayload = maxPayloadForHeader(2);
  /** The manager's sendBacklogHardLimit. */
  private readonly hardLimit: number;
  /** broadcast's recipients' ids sorted by shard index (reused), and how many each holds. */
  private buckets: Uint32Array[] = [];
  private readonly bucketCounts: number[] = [];
  /** The same, for WebSocket streams (framed once per shard as a message). */
  private messageBuckets: Uint32Array[] = [];
  private readonly messageCounts: number[] = [];
  /** broadcast's recipients from an iterable that is neither an array nor a group (reused, emptied after each call). */
  private readonly pending: Connection[] = [];
  /** broadcast's UDP addresses (reused). */
  private readonly udpTargets: NetAddress[] = [];
  private isShutDown = false;
  private maxUdpDatagram = MAXIMUM_UDP_DATAGRAM;

  /** `numThreads` is accepted for Panda3D compatibility: writes happen in the shards. */
  constructor(
    private readonly manager: QueuedConnectionManager,
    private readonly numThreads = 0,
  ) {
    checkManager('ConnectionWriter', manager);
    checkThreads('ConnectionWriter', numThreads);
    this.hardLimit = manager.settings.sendBacklogHardLimit;
    this.shards = manager.getShards();
  }

  /** The manager's shards (the set's array, which keeps its identity when a shard is replaced). */
  private readonly shards: readonly ShardHandle[];

  private framingChanged(): void {
    this.wireHeader = this.raw ? 0 : this.headerSize;
    this.maxPayload = maxPayloadForHeader(this.wireHeader);
  }

  /**
   * Queues `dg` for `conn`, to be written in order after everything sent before it. Returns
   * true, and the datagram is written unless the connection is later reset (it then shows
   * in the manager's reset queue with its reason). Returns false, queuing nothing, only
   * when the connection is closed or the manager is closing, or when the opted-in
   * `setMaxSendBacklog` would be passed. A full ring or a shard that has not run yet is
   * never a reason to refuse: the datagram waits in order. Past `sendBacklogHardLimit` the
   * connection is reset 'slow-consumer' (false). A datagram of any size the header can
   * announce is sent (one larger than a ring record goes as several). Throws a RangeError
   * for a datagram too long for the header size, or alone past `sendBacklogHardLimit`,
   * since no retry could send it, and a TypeError for an address (the four-argument form
   * is for UDP connections). `block` is accepted for Panda3D compatibility.
   */
  send(dg: Datagram, conn: Connection, block?: boolean): boolean;
  /**
   * Sends `dg` as one UDP packet from `conn` (a UDP connection) to `address`, with Panda3D's
   * checksum header unless in raw mode. Returns false when the connection is closed; throws
   * a RangeError for more than a UDP packet can carry (65505 bytes).
   */
  send(dg: Datagram, conn: Connection, address: NetAddress, block?: boolean): boolean;
  send(dg: Datagram, conn: Connection, addressOrBlock?: NetAddress | boolean, _block = false): boolean {
    if (!(dg instanceof Datagram))
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `ConnectionWriter.send: expected a Datagram, got ${describeValue(dg)}`);
    this.assertRunning('send');
    if (!(conn instanceof Connection)) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `ConnectionWriter.send: expected a Connection, got ${describeValue(conn)}`);
    }
    // Panda3D's (dg, connection, address) form is for UDP only; for a stream the third
    // argument is `block`. An address here would otherwise be ignored, the datagram sent
    // down the stream.
    if (conn.kind !== 'udp' && addressOrBlock !== undefined && typeof addressOrBlock !== 'boolean') {
      throw new RingwireTypeError(
        ErrorCode.WRONG_CONNECTION_KIND,
        `ConnectionWriter.send: an address is for a UDP connection (send(dg, udpConnection, address)); ${conn.toString()} is a ${conn.kind} connection, whose third argument is block (a boolean), got ${describeValue(addressOrBlock)}`,
      );
    }
    const shard = conn.shard;
    if (!conn.open || shard === null || !shard.acceptsRecords()) return false;
    const length = dg.getLength();
    if (conn.kind === 'udp') {
      if (!(addressOrBlock instanceof NetAddress)) {
        throw new RingwireTypeError(
          ErrorCode.WRONG_CONNECTION_KIND,
          'ConnectionWriter.send: a UDP connection needs the address to send to: send(dg, conn, address)',
        );
      }
      const to = addressOrBlock;
      checkUdpAddress('send', to);
      const header = this.raw ? 0 : 2;
      this.checkUdpSize('send', length, header);
      if (shard.sendTo(conn, dg, to, this.raw, this.maxQueueSize)) this.manager.cutOverBudget(shard);
      return true;
    }
    const headerSize = this.wireHeader;
    if (length > this.maxPayload) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `ConnectionWriter.send: a ${length}-byte datagram does not fit a ${headerSize}-byte length header (at most ${this.maxPayload})`,
      );
    }
    // A WebSocket stream gets the datagram as one binary message: its own header, not Panda's.
    const framing = conn.framing;
    const size = (framing === Framing.PANDA ? headerSize : frameHeaderSize(length, framing === Framing.WEBSOCKET_CLIENT)) + length;
    // A datagram larger than a ring record goes as several records, in order; one that is
    // alone past the hard limit could never be sent without resetting its connection.
    if (size > this.hardLimit) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `ConnectionWriter.send: a ${length}-byte datagram is past the manager's sendBacklogHardLimit (${this.hardLimit} bytes): it would reset the connection; raise the limit`,
      );
    }
    // The backlog is looked at for every send under a soft limit, else every 64 KiB sent.
    if ((this.maxSendBacklog !== Infinity || conn.sentBytes >= conn.backlogCheckAt) && !this.admit(conn, shard, size)) {
      return false;
    }
    if (shard.send(conn, dg, headerSize, this.maxQueueSize)) this.manager.cutOverBudget(shard);
    return true;
  }

  /**
   * Sends `dg` to every connection in `recipients` (an array, any iterable, or a
   * {@link ConnectionGroup}) and returns how many it was queued for. The datagram is framed
   * once per shard that owns a recipient, as one record of the bytes and the recipients'
   * ids; the shard appends that frame to each recipient's write. For each recipient the
   * promises are `send`'s: in order with its other sends, written unless it is later
   * reset; a closed recipient, or one the opted-in `setMaxSendBacklog` would refuse, is
   * skipped (not counted). A connection listed twice gets it twice. Throws a TypeError for
   * a recipient that is not a TCP Connection, and a RangeError as `send` does for a datagram
   * too long. (ringwire's extension.)
   */
  broadcast(dg: Datagram, recipients: Iterable<Connection>): number;
  /**
   * Sends `dg` as one UDP packet from `conn` (a UDP connection) to each of `addresses`:
   * one copy of the packet in the shard, sent to every address. Returns how many addresses
   * it was queued for: 0 when the connection is closed. Throws as `send` does.
   */
  broadcast(dg: Datagram, conn: Connection, addresses: Iterable<NetAddress>): number;
  broadcast(dg: Datagram, a: Iterable<Connection> | Connection, addresses?: Iterable<NetAddress>): number {
    if (!(dg instanceof Datagram))
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `ConnectionWriter.broadcast: expected a Datagram, got ${describeValue(dg)}`);
    this.assertRunning('broadcast');
    if (a instanceof Connection) return this.broadcastUdp(dg, a, addresses);
    if (a === null || typeof a !== 'object' || typeof (a as Partial<Iterable<Connection>>)[Symbol.iterator] !== 'function') {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `ConnectionWriter.broadcast: recipients must be an iterable of Connections (an array or a ConnectionGroup), got ${describeValue(a)}`,
      );
    }
    const length = dg.getLength();
    const headerSize = this.wireHeader;
    if (length > this.maxPayload) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `ConnectionWriter.broadcast: a ${length}-byte datagram does not fit a ${headerSize}-byte length header (at most ${this.maxPayload})`,
      );
    }
    const size = headerSize + length;
    const messageSize = frameHeaderSize(length, false) + length;
    try {
      // Every recipient is checked before any is counted: a call that throws changes nothing.
      const recipients = this.checkedRecipients(a);
      // One record holds the count, at least one id and the frame; a frame too large for
      // that goes to each recipient as send() sends it (in several records).
      if (Math.max(size, messageSize) + 8 > maxRecordPayload(this.manager.settings.ringCapacity)) return this.sendToEach(dg, recipients);
      return this.broadcastFrames(dg, recipients, size, headerSize, messageSize);
    } finally {
      this.pending.length = 0;
    }
  }

  /**
   * `recipients` as something to walk again, each checked to be a TCP Connection (a
   * TypeError names the first that is not). A group holds only TCP streams and an array
   * is walked in place; any other iterable is copied into {@link pending} first.
   */
  private checkedRecipients(recipients: Iterable<Connection>): Iterable<Connection> {
    if (recipients instanceof ConnectionGroup) return recipients;
    let list: readonly Connection[];
    if (Array.isArray(recipients)) {
      list = recipients;
    } else {
      const pending = this.pending;
      for (const conn of recipients) pending.push(conn);
      list = pending;
    }
    for (let i = 0; i < list.length; i++) {
      const conn = list[i];
      if (!(conn instanceof Connection) || conn.kind !== 'tcp') {
        throw new RingwireTypeError(
          ErrorCode.WRONG_CONNECTION_KIND,
          `ConnectionWriter.broadcast: every recipient must be a TCP Connection, got ${conn instanceof Connection ? `a ${conn.kind} connection (UDP: broadcast(dg, udpConnection, addresses))` : describeValue(conn)}`,
        );
      }
    }
    return list;
  }

  /**
   * broadcast's second half, over checked recipients: count each one's bytes and frame once
   * per shard and framing (Panda3D's header, a WebSocket server's message). A WebSocket
   * client stream masks each frame with its own key: it gets send()'s frame.
   */
  private broadcastFrames(dg: Datagram, recipients: Iterable<Connection>, size: number, headerSize: HeaderSize, messageSize: number): number {
    const shards = this.shards;
    const counts = this.bucketCounts;
    const messageCounts = this.messageCounts;
    while (this.buckets.length < shards.length) this.buckets.push(new Uint32Array(64));
    while (this.messageBuckets.length < shards.length) this.messageBuckets.push(new Uint32Array(16));
    for (let i = 0; i < shards.length; i++) counts[i] = messageCounts[i] = 0;
    const soft = this.maxSendBacklog !== Infinity;
    let queued = 0;
    for (const conn of recipients) {
      const framing = conn.framing;
      if (framing === Framing.WEBSOCKET_CLIENT) {
        if (this.send(dg, conn)) queued++;
        continue;
      }
      const shard = conn.shard;
      const bytes = framing === Framing.PANDA ? size : messageSize;
      if (!conn.open || shard === null || !shard.acceptsRecords()) continue;
      if ((soft || conn.sentBytes >= conn.backlogCheckAt) && !this.admit(conn, shard, bytes)) continue;
      conn.sentBytes += bytes;
      const index = shard.index;
      const lists = framing === Framing.PANDA ? this.buckets : this.messageBuckets;
      const tally = framing === Framing.PANDA ? counts : messageCounts;
      let bucket = lists[index];
      const n = tally[index];
      if (n === bucket.length) {
        const grown = new Uint32Array(bucket.length * 2);
        grown.set(bucket);
        bucket = lists[index] = grown;
      }
      bucket[n] = conn.id;
      tally[index] = n + 1;
      queued++;
    }
    for (let i = 0; i < shards.length; i++) {
      if (counts[i] > 0 && shards[i].broadcast(this.buckets[i], counts[i], dg, headerSize, this.maxQueueSize)) this.manager.cutOverBudget(shards[i]);
      if (
        messageCounts[i] > 0 &&
        shards[i].broadcast(this.messageBuckets[i], messageCounts[i], dg, headerSize, this.maxQueueSize, Framing.WEBSOCKET_SERVER)
      ) {
        this.manager.cutOverBudget(shards[i]);
      }
    }
    return queued;
  }

  /**
   * broadcast for a frame too large for one record, over checked recipients: send() to
   * each. (send() throws for a frame past sendBacklogHardLimit at the first recipient,
   * before anything is queued, since the frame is the same for all.)
   */
  private sendToEach(dg: Datagram, recipients: Iterable<Connection>): number {
    let queued = 0;
    for (const conn of recipients) if (this.send(dg, conn)) queued++;
    return queued;
  }

  private broadcastUdp(dg: Datagram, conn: Connection, addresses: Iterable<NetAddress> | undefined): number {
    if (conn.kind !== 'udp') {
      throw new RingwireTypeError(
        ErrorCode.WRONG_CONNECTION_KIND,
        `ConnectionWriter.broadcast: (dg, connection, addresses) is for a UDP connection, got a ${conn.kind} connection; for TCP streams pass the recipients: broadcast(dg, [conn, …])`,
      );
    }
    if (addresses === null || typeof addresses !== 'object' || typeof (addresses as Partial<Iterable<NetAddress>>)[Symbol.iterator] !== 'function') {
      throw new RingwireTypeError(
        ErrorCode.INVALID_ARG_TYPE,
        `ConnectionWriter.broadcast: addresses must be an iterable of NetAddresses, got ${describeValue(addresses)}`,
      );
    }
    const length = dg.getLength();
    const header = this.raw ? 0 : 2;
    this.checkUdpSize('broadcast', length, header);
    const targets = this.udpTargets;
    let n = 0;
    for (const to of addresses) {
      if (!(to instanceof NetAddress)) {
        throw new RingwireTypeError(
          ErrorCode.INVALID_ARG_TYPE,
          `ConnectionWriter.broadcast: every address must be a NetAddress, got ${describeValue(to)}`,
        );
      }
      checkUdpAddress('broadcast', to);
      targets[n++] = to;
    }
    const shard = conn.shard;
    if (!conn.open || shard === null || !shard.acceptsRecords() || n === 0) {
      targets.length = 0;
      return 0;
    }
    if (shard.sendToMany(conn, dg, targets, n, this.raw, this.maxQueueSize)) this.manager.cutOverBudget(shard);
    targets.length = 0;
    return n;
  }

  /**
   * Whether `conn` may take `size` more bytes: false past the soft limit (nothing queued),
   * or past sendBacklogHardLimit (the connection is reset 'slow-consumer').
   */
  private admit(conn: Connection, shard: ShardHandle, size: number): boolean {
    const backlog = shard.sendBacklog(conn) + size;
    if (backlog > this.maxSendBacklog) return false;
    if (backlog > this.hardLimit) {
      this.manager.cutConnection(conn, ResetReasonCode.SLOW_CONSUMER);
      return false;
    }
    conn.backlogCheckAt = conn.sentBytes + BACKLOG_CHECK_BYTES;
    return true;
  }

  /**
   * Opts into a soft limit per connection: `send` returns false (queuing nothing) when the
   * datagram would take the connection's backlog (`getSendBacklog`) past `bytes`, so a
   * program can skip a slow reader's update instead of queuing it. 0 turns it off (the
   * default). Throws a RangeError for a negative or non-integer value. (ringwire's extension.)
   */
  setMaxSendBacklog(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `setMaxSendBacklog: bytes must be a non-negative integer, got ${describeValue(bytes)}`,
      );
    }
    this.maxSendBacklog = bytes === 0 ? Infinity : bytes;
  }

  /** The soft limit per connection in bytes; 0 when off. */
  getMaxSendBacklog(): number {
    return this.maxSendBacklog === Infinity ? 0 : this.maxSendBacklog;
  }

  /**
   * Bytes sent to `conn` that have not reached the kernel yet: still in the shard's ring or
   * queued by its socket. It grows while the peer does not read; past the manager's
   * `sendBacklogLimit` a peer that takes nothing for `sendStallTimeoutMs` is reset
   * 'slow-consumer'. Pace sends on it, or use `setMaxSendBacklog`.
   * 0 for a closed or UDP connection. (ringwire's extension.)
   */
  getSendBacklog(conn: Connection): number {
    if (!(conn instanceof Connection)) {
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `getSendBacklog: expected a Connection, got ${describeValue(conn)}`);
    }
    const shard = conn.shard;
    if (!conn.open || shard === null) return 0;
    return shard.sendBacklog(conn);
  }

  /** True when `dg` fits Panda3D's UDP datagram limit (maximum_udp_datagram, 1500 bytes). */
  isValidForUdp(dg: Datagram): boolean {
    return dg.getLength() <= MAXIMUM_UDP_DATAGRAM;
  }

  /**
   * The largest UDP datagram `send` and `broadcast` accept. Default 1500, Panda3D's
   * maximum_udp_datagram: a Panda3D receiver reads into a 1502-byte buffer and silently
   * drops anything larger, so the writer refuses it (a RangeError) rather than send what
   * would be lost. Raise it, up to 65505 (65507 in raw mode), to talk to receivers that read
   * more, ringwire's among them. (ringwire's extension.)
   */
  setMaxUdpDatagramSize(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > MAX_UDP_PAYLOAD) {
      throw new RingwireRangeError(
        ErrorCode.INVALID_ARG_VALUE,
        `setMaxUdpDatagramSize: bytes must be an integer from 0 to ${MAX_UDP_PAYLOAD}, got ${describeValue(bytes)}`,
      );
    }
    this.maxUdpDatagram = bytes;
  }

  /** The largest UDP datagram send accepts (1500 unless raised). */
  getMaxUdpDatagramSize(): number {
    return this.maxUdpDatagram;
  }

  private checkUdpSize(what: string, length: number, header: number): void {
    if (header + length > MAX_UDP_PAYLOAD) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `ConnectionWriter.${what}: a ${length}-byte datagram does not fit one UDP packet (at most ${MAX_UDP_PAYLOAD - header})`,
      );
    }
    if (length > this.maxUdpDatagram) {
      throw new RingwireRangeError(
        ErrorCode.DATAGRAM_TOO_LARGE,
        `ConnectionWriter.${what}: a ${length}-byte UDP datagram is past ${this.maxUdpDatagram} bytes, which a Panda3D receiver drops unread; ` +
          'writer.setMaxUdpDatagramSize(bytes) raises the limit for receivers that read more',
      );
    }
  }

  /** Raw mode: datagrams are sent without a length header (TCP) or checksum (UDP). */
  setRawMode(raw: boolean): void {
    if (typeof raw !== 'boolean')
      throw new RingwireTypeError(ErrorCode.INVALID_ARG_TYPE, `setRawMode: expected a boolean, got ${describeValue(raw)}`);
    this.raw = raw;
    this.framingChanged();
  }

  /** True in raw mode. */
  getRawMode(): boolean {
    return this.raw;
  }

  /** The length header size, 0, 2 (Panda3D's default) or 4. */
  setTcpHeaderSize(size: HeaderSize): void {
    assertHeaderSize(size, 'setTcpHeaderSize: size');
    this.headerSize = size;
    this.framingChanged();
  }

  /** The length header size. */
  getTcpHeaderSize(): HeaderSize {
    return this.headerSize;
  }

  /**
   * Most datagrams the writer lets wait, per shard, before it hands them to the shard at
   * once instead of at the end of the turn (in single-thread mode they are then written).
   * `send` never refuses because of it. Throws a RangeError for anything but a positive integer.
   */
  setMaxQueueSize(size: number): void {
    if (!Number.isInteger(size) || size < 1) {
      throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `setMaxQueueSize: size must be a positive integer, got ${describeValue(size)}`);
    }
    this.maxQueueSize = size;
  }

  /** The queue limit (default 10000, Panda3D's net-max-write-queue). */
  getMaxQueueSize(): number {
    return this.maxQueueSize;
  }

  /** Datagrams accepted by `send` (through this manager) that the shards have not taken yet. */
  getCurrentQueueSize(): number {
    let queued = 0;
    for (const shard of this.shards) queued += shard.queuedSends();
    return queued;
  }

  /**
   * False: ringwire never writes inside `send`. It coalesces each turn's datagrams per
   * connection and writes them when the turn ends (or the queue passes `getMaxQueueSize`),
   * in worker shards or, in single-thread mode, on this thread.
   */
  isImmediate(): boolean {
    return false;
  }

  /** The number of threads asked for. */
  getNumThreads(): number {
    return this.numThreads;
  }

  /** The manager this writer sends for. */
  getManager(): QueuedConnectionManager {
    return this.manager;
  }

  /**
   * Stops the writer, as Panda3D's shutdown(): a later `send` or `broadcast` throws. What
   * it has queued already is still written (Panda3D's threaded writer drops its queue; a
   * datagram ringwire accepted is written unless its connection is reset). Idempotent.
   */
  shutdown(): void {
    if (this.isShutDown) return;
    this.isShutDown = true;
    for (const shard of this.shards) if (shard.acceptsRecords()) shard.commit();
  }

  private assertRunning(what: string): void {
    if (this.isShutDown) throw new RingwireError(ErrorCode.WRITER_SHUT_DOWN, `ConnectionWriter.${what}: the writer is shut down`);
  }
}

/** Throws a RangeError for a UDP destination no packet can go to: port 0, or a zone past UDP_ZONE_MAX. */
function checkUdpAddress(what: string, to: NetAddress): void {
  if (to.getPort() === 0) {
    throw new RingwireRangeError(ErrorCode.INVALID_ARG_VALUE, `ConnectionWriter.${what}: cannot send a UDP datagram to port 0 (${to.toString()})`);
  }
  if (udpAddressSize(to.getIpString()) < 0) {
    throw new RingwireRangeError(
      ErrorCode.INVALID_ARG_VALUE,
      `ConnectionWriter.${what}: the zone of ${to.toString()} is longer than ${UDP_ZONE_MAX} characters`,
    );
  }
}
