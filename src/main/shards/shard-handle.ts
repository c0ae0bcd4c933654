import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import type { HeaderSize } from '../../shared/frame-encoder.js';
import {
  ADOPT_PAYLOAD_SIZE,
  READ_PAYLOAD_SIZE,
  readAdoptFd,
  writeAdopt,
  writeReadSettings,
  type ReadSettings,
} from '../../shared/protocol/read-record.js';
import { BacklogSlots, QUEUED, TAKEN, createSendBacklog } from '../../shared/protocol/send-backlog.js';
import {
  COUNT_SIZE,
  OPTION_PAYLOAD_SIZE,
  SHUTDOWN_PAYLOAD_SIZE,
  broadcastIdsPerRecord,
  broadcastPayloadSize,
  sendToPayloadSize,
  udpHeaderSize,
  writeBroadcastIds,
  writeChecksum,
  writeDestination,
  writeOption,
  writeSendToHead,
  writeSendToManyCount,
  writeShutdown,
} from '../../shared/protocol/outbound-records.js';
import { AdoptKind, RecordKind } from '../../shared/protocol/record-kind.js';
import { udpAddressSize, udpChecksum } from '../../shared/protocol/udp-framing.js';
import { StatSlot, createShardStats } from '../../shared/protocol/shard-stats.js';
import { SpscRing } from '../../shared/protocol/spsc-ring.js';
import { closeQuietly } from '../../shared/close-fd.js';
import { Framing } from '../../shared/protocol/transport-spec.js';
import { Opcode, frameHeaderSize, maskBytes, randomMaskKey, writeFrameHeader } from '../../shared/websocket-frame-encoder.js';
import { copyWords } from '../../shared/copy-bytes.js';
import type { Datagram } from '../../shared/datagram.js';
import type { LocalSockets, Shard, ShardInit } from '../../workers/shard.js';
import { socketFd, type FdHelper } from '../../shared/fd-helper.js';
import { OutboundQueue } from './outbound-queue.js';
import { ShardEvent, ShardState, acceptsRecords, hasEnded, nextShardState } from './shard-state.js';

/**
 * Writes a frame's length header at `at` and returns where its payload goes. The writer
 * checked that the length fits the header: no second check per datagram.
 */
function putHeader(target: Uint8Array, view: DataView, at: number, headerSize: HeaderSize, length: number): number {
  if (headerSize === 2) {
    target[at] = length & 0xff;
    target[at + 1] = length >>> 8;
  } else if (headerSize === 4) {
    view.setUint32(at, length, true);
  }
  return at + headerSize;
}

/** The largest SEND record of a datagram sent in parts: the ring takes it a piece at a time. */
const SEND_PART_BYTES = 64 * 1024;

/** Closes the fd of an ADOPT record no shard took (-1: taken, or single-thread mode). */
function closeAdopted(bytes: Uint8Array, offset: number): void {
  const fd = readAdoptFd(bytes, offset);
  if (fd >= 0) closeQuietly(fd);
}

/** What a shard handle needs of a connection: the manager's Connection is one. */
export interface ShardConnection {
  /** The id the shard knows the connection by. */
  readonly id: number;
  /** True until the connection is closed locally or reported closed. */
  readonly open: boolean;
  /** The stream's slot in the shard's send-backlog table, or -1. */
  backlogSlot: number;
  /** Bytes (headers included) framed for the stream so far. */
  sentBytes: number;
  /** Panda3D's length header, or a WebSocket message (a server's, or a client's masked). */
  readonly framing: Framing;
  toString(): string;
}

/** Where a UDP packet goes: the manager's NetAddress is one. */
export interface UdpDestination {
  getIpString(): string;
  getPort(): number;
}

/** What a shard handle tells its owner (the shard set), given to it at construction. */
export interface ShardHandleHost {
  /** A record was published while the shard does not run: start it. */
  idleRing(shard: ShardHandle): void;
  /** The shard published inbound records while the main thread was parked on them. */
  inbound(): void;
}

/** A host that does nothing: a handle made alone (a test) has no owner to tell. */
const NO_HOST: ShardHandleHost = { idleRing() {}, inbound() {} };

/**
 * The main thread's side of one shard: the consumer end of its inbound ring, the producer
 * end of its outbound ring, its stats, and how sockets reach it (a duplicated fd for a
 * worker shard, the socket object itself for the main-thread shard).
 */
export class ShardHandle {
  readonly inbound: SpscRing;
  readonly outbound: SpscRing;
  readonly stats: Float64Array;
  /** Per-connection bytes taken and queued by the shard (send-backlog.ts). */
  readonly backlog: Float64Array;
  readonly backlogSlots: BacklogSlots;
  /** Connections adopted and not yet reported closed. */
  connections = 0;
  /** SEND records written; minus the shard's DATAGRAMS_OUT, the writer's queue. */
  sends = 0;
  /** Times the main thread rang the shard's doorbell (it published records while the shard was parked). */
  wakesToShard = 0;
  /** Times the shard rang the main thread's (it published inbound records while the main thread waited). */
  wakesToMain = 0;
  /** Where the shard's run is (shard-state.ts draws the states); only {@link transition} changes it. */
  private current: ShardState = ShardState.IDLE;
  /** The outbound ring's producer end and the overflow behind it. */
  private readonly queue: OutboundQueue;
  /** The shard itself in single-thread mode (it runs on this thread), else null. */
  local: Shard | null = null;
  /**
   * Single-thread mode: the shard runs on this thread. It rings both ways without the
   * kernel: its inbound doorbell calls the host's inbound() (the shard defers it to the end of its
   * turn), and ours queues a microtask that wakes it.
   */
  attachLocal(shard: Shard): void {
    this.local = shard;
    this.queue.local = shard;
    this.outbound.doorbell = () => {
      this.wakesToShard++;
      queueMicrotask(shard.rung);
    };
  }

  /** What the main-thread shard calls when it rings the main thread. */
  readonly localWake = (): void => {
    this.wakesToMain++;
    this.host.inbound();
  };
  /** Our end of the shard's doorbell, and the shard's end (handed over in init()): a new pair per run. */
  private bell: MessagePort | null = null;
  shardBell!: MessagePort;
  /** A wait is pending: the doorbell holds the event loop (holdLoop). */
  private held = false;

  constructor(
    readonly index: number,
    ringCapacity: number,
    /** Null for a worker shard; the in-process hand-over map for the main-thread shard. */
    readonly localSockets: LocalSockets | null,
    private readonly fdHelper: FdHelper | null,
    /** Most bytes the overflow may hold before the largest backlogs are cut (shardSendBudget). */
    budget: number,
    private readonly host: ShardHandleHost = NO_HOST,
  ) {
    this.inbound = SpscRing.create(ringCapacity);
    this.outbound = SpscRing.create(ringCapacity);
    this.stats = createShardStats();
    this.backlog = createSendBacklog();
    this.backlogSlots = new BacklogSlots(this.backlog);
    this.queue = new OutboundQueue(this.outbound, budget, () => hasEnded(this.current));
    this.renewBell();
    // A record published while the shard's run has ended (parked) starts it again; the
    // rings keep their place, so the new run reads on where the last one stopped.
    this.outbound.doorbell = () => {
      const state = this.current;
      if (state === ShardState.RUNNING || state === ShardState.STOPPING) {
        this.wakesToShard++;
        this.bell!.postMessage(0);
      } else this.host.idleRing(this);
    };
  }

  /** The shard's state (shard-state.ts). */
  get state(): ShardState {
    return this.current;
  }

  /** Moves the shard's state on by `event` (nextShardState holds every transition); returns the new state. */
  transition(event: ShardEvent): ShardState {
    this.current = nextShardState(this.current, event);
    return this.current;
  }

  /** True while the shard takes new records: sends, connections (not once it is stopping, stopped or failed). */
  acceptsRecords(): boolean {
    return acceptsRecords(this.current);
  }

  /** The shard's thread died (FAILED): it takes no new connections. */
  get failed(): boolean {
    return this.current === ShardState.FAILED;
  }

  /** A worker shard's run is on a pool thread (RUNNING, or STOPPING towards its SHUTDOWN). */
  get running(): boolean {
    return this.local === null && (this.current === ShardState.RUNNING || this.current === ShardState.STOPPING);
  }

  /**
   * A new doorbell pair for the shard's next run (its end moves to the worker with it, and
   * the worker closes it when the run ends). The shard rings back only while we are parked
   * (parkInbound); the port holds the event loop only while someone waits (holdLoop), as a
   * pending read would.
   */
  renewBell(): void {
    if (hasEnded(this.current)) return;
    this.bell?.close();
    const channel = new MessageChannel();
    this.bell = channel.port1;
    this.shardBell = channel.port2;
    this.bell.on('message', () => {
      this.wakesToMain++;
      this.host.inbound();
    });
    if (!this.held) this.bell.unref();
  }

  /** True when records wait for the shard: in its ring, staged, or in the overflow. */
  hasWork(): boolean {
    return this.queue.hasWork();
  }

  /**
   * Marks the main thread parked on the inbound ring: the shard rings once when it next
   * publishes. Returns false (not parked) when records are already waiting. A shard that
   * has died publishes nothing: it counts as parked.
   */
  parkInbound(): boolean {
    return hasEnded(this.current) || this.inbound.parkConsumer();
  }

  /** Ends a park (the wait is over, or something came). */
  unparkInbound(): void {
    this.inbound.unparkConsumer();
  }

  /** Keeps the event loop alive while a wait is pending (true), or lets it go (false). */
  holdLoop(hold: boolean): void {
    this.held = hold;
    if (this.bell === null) return;
    if (hold) this.bell.ref();
    else this.bell.unref();
  }

  /** The shard's start-up data (sent to its worker, or used in-process). */
  init(limits: Omit<ShardInit, 'inbound' | 'outbound' | 'stats' | 'backlog' | 'doorbell'>): ShardInit {
    return {
      inbound: this.inbound.buffer,
      outbound: this.outbound.buffer,
      stats: this.stats,
      backlog: this.backlog,
      sendBacklogLimit: limits.sendBacklogLimit,
      sendBacklogHardLimit: limits.sendBacklogHardLimit,
      sendStallTimeoutMs: limits.sendStallTimeoutMs,
      closeLingerMs: limits.closeLingerMs,
      shardSendBudget: limits.shardSendBudget,
      idleTimeoutMs: limits.idleTimeoutMs,
      shutdownTimeoutMs: limits.shutdownTimeoutMs,
      doorbell: this.shardBell,
    };
  }

  /** Closes our end of the doorbell and ends a wait for ring room (the shard has ended). */
  dispose(): void {
    this.transition(ShardEvent.DISPOSE);
    this.bell?.close();
    this.bell = null;
    this.outbound.wakeProducer();
  }

  /**
   * Hands `socket` to the shard as `conn`. For a worker shard the fd is duplicated and the
   * main thread's socket destroyed: afterwards only the shard holds the socket. Returns
   * false (and destroys the socket) when it has no descriptor to hand over.
   */
  adopt(conn: ShardConnection, socket: Socket | UdpSocket, kind: number = AdoptKind.TCP, transport: Uint8Array | null = null): boolean {
    const discard = (): void => {
      if ('destroy' in socket) socket.destroy();
      else socket.close();
    };
    let fd = -1;
    if (this.localSockets === null) {
      const handleFd = socketFd(socket);
      if (this.fdHelper === null || handleFd < 0) {
        discard();
        return false;
      }
      fd = this.fdHelper.dupFd(handleFd);
      discard();
    }
    if (this.localSockets !== null) this.localSockets.set(conn.id, socket);
    if (kind === AdoptKind.TCP) conn.backlogSlot = this.backlogSlots.take();
    // A stream that speaks WebSocket or TLS carries what the shard needs to speak it (transport-spec.ts).
    const payload = new Uint8Array(ADOPT_PAYLOAD_SIZE + (transport === null ? 0 : transport.length));
    writeAdopt(payload, 0, fd, conn.backlogSlot);
    if (transport !== null) payload.set(transport, ADOPT_PAYLOAD_SIZE);
    this.enqueue(RecordKind.ADOPT, conn.id, kind, payload);
    this.connections++;
    return true;
  }

  /** Asks the shard to read `conn` with `settings`. */
  startReading(conn: ShardConnection, settings: ReadSettings): void {
    const payload = new Uint8Array(READ_PAYLOAD_SIZE);
    writeReadSettings(payload, 0, settings);
    this.enqueue(RecordKind.READ, conn.id, 1, payload);
  }

  /** Asks the shard to stop reading `conn` (the connection stays open). */
  stopReading(conn: ShardConnection): void {
    this.enqueue(RecordKind.READ, conn.id, 0, null);
  }

  /** Asks the shard to flush and close `conn`. */
  close(conn: ShardConnection): void {
    this.enqueue(RecordKind.CLOSE, conn.id, 0, null);
  }

  /** Sets a socket option on `conn` (record-kind.ts SocketOption), in order with its sends. */
  setOption(conn: ShardConnection, option: number, value: number, seconds = 0): void {
    const slot = this.queue.reserve(RecordKind.OPTION, conn.id, OPTION_PAYLOAD_SIZE, option);
    writeOption(slot.view, slot.offset, value, seconds);
    this.queue.queued();
  }

  /** Writes out what is staged now rather than at the end of the turn (Connection.flush). */
  flush(): void {
    if (hasEnded(this.current)) return;
    this.queue.handOver();
  }

  /**
   * close(): a running shard is asked to flush and close everything, then end; it cuts what
   * still lingers at `deadline` (a Date.now() time). One that is not running holds nothing
   * and is stopped at once. Either way later sends are refused.
   */
  stop(deadline: number): void {
    if (this.current === ShardState.RUNNING) {
      const slot = this.queue.reserve(RecordKind.SHUTDOWN, 0, SHUTDOWN_PAYLOAD_SIZE, 0);
      writeShutdown(slot.view, slot.offset, deadline);
      this.transition(ShardEvent.CLOSE);
      this.queue.commit();
    } else {
      this.transition(ShardEvent.CLOSE);
    }
  }

  /**
   * Frames `dg` with `headerSize` into the outbound ring (or, while the ring is full, the
   * overflow behind it). Never refuses: the caller has checked that the connection is open
   * and within its limits. Returns true when the overflow is past shardSendBudget: the
   * caller then cuts the largest backlogs ({@link overflowBytes}, {@link largestOverflow}).
   */
  send(conn: ShardConnection, dg: Datagram, headerSize: HeaderSize, maxQueue: number): boolean {
    if (conn.framing !== Framing.PANDA) return this.sendMessage(conn, dg, maxQueue);
    const length = dg.getLength();
    const size = headerSize + length;
    if (size > this.outbound.maxPayload) return this.sendInParts(conn, dg, headerSize, maxQueue);
    const slot = this.queue.reserve(RecordKind.SEND, conn.id, size, 0);
    const body = putHeader(slot.bytes, slot.view, slot.offset, headerSize, length);
    copyWords(slot.bytes, slot.view, body, dg._bytes, dg._view, 0, length);
    this.sends++;
    conn.sentBytes += size;
    return this.queue.sent(maxQueue);
  }

  /**
   * `dg` as one WebSocket binary message to `conn`: a server's frame, or a client's masked
   * with a fresh key (RFC 6455 asks a client to mask every frame). As a Panda3D frame: one
   * SEND record, or consecutive ones (aux 1 after the first) for a frame larger than a record.
   */
  private sendMessage(conn: ShardConnection, dg: Datagram, maxQueue: number): boolean {
    const length = dg.getLength();
    const masked = conn.framing === Framing.WEBSOCKET_CLIENT;
    const header = frameHeaderSize(length, masked);
    const key = masked ? randomMaskKey() : 0;
    const part = Math.min(SEND_PART_BYTES, this.outbound.maxPayload);
    conn.sentBytes += header + length;
    this.sends++;
    let over = false;
    let done = 0;
    let first = true;
    while (first || done < length) {
      const h = first ? header : 0;
      const n = Math.min(part - h, length - done);
      const slot = this.queue.reserve(RecordKind.SEND, conn.id, h + n, first ? 0 : 1);
      if (first) writeFrameHeader(slot.bytes, slot.offset, length, Opcode.BINARY, masked, key);
      copyWords(slot.bytes, slot.view, slot.offset + h, dg._bytes, dg._view, done, n);
      if (masked) maskBytes(slot.bytes, slot.offset + h, slot.offset + h + n, key, done & 3);
      done += n;
      first = false;
      over = this.queue.sent(maxQueue);
    }
    return over;
  }

  /**
   * A frame larger than a ring record: consecutive SEND records of at most
   * {@link SEND_PART_BYTES}, the first with the header (aux 0, counted as the datagram),
   * the rest aux 1. Nothing else of the connection comes between them, so the socket gets
   * the frame whole and in order. The whole frame is queued before the caller hears of the
   * budget (at most sendBacklogHardLimit bytes, which the writer checked): a cut then drops
   * its parts still in the overflow.
   */
  private sendInParts(conn: ShardConnection, dg: Datagram, headerSize: HeaderSize, maxQueue: number): boolean {
    const length = dg.getLength();
    const part = Math.min(SEND_PART_BYTES, this.outbound.maxPayload);
    conn.sentBytes += headerSize + length;
    this.sends++;
    let over = false;
    for (let done = 0; done < length;) {
      const first = done === 0;
      const header = first ? headerSize : 0;
      const n = Math.min(part - header, length - done);
      const slot = this.queue.reserve(RecordKind.SEND, conn.id, header + n, first ? 0 : 1);
      const body = first ? putHeader(slot.bytes, slot.view, slot.offset, headerSize, length) : slot.offset;
      copyWords(slot.bytes, slot.view, body, dg._bytes, dg._view, done, n);
      done += n;
      over = this.queue.sent(maxQueue);
    }
    return over;
  }

  /**
   * Frames `dg` with `headerSize` once for the `count` connections whose ids are in `ids`
   * (this shard's): one BROADCAST record, or several when the ids do not fit one. Each
   * recipient's `sentBytes` was counted by the caller. Returns true when the overflow is
   * past the budget (as {@link send}).
   */
  broadcast(ids: Uint32Array, count: number, dg: Datagram, headerSize: HeaderSize, maxQueue: number, framing: Framing = Framing.PANDA): boolean {
    const length = dg.getLength();
    const websocket = framing === Framing.WEBSOCKET_SERVER;
    const size = (websocket ? frameHeaderSize(length, false) : headerSize) + length;
    // The writer checked that one id and the frame fit a record.
    const perRecord = broadcastIdsPerRecord(this.outbound.maxPayload, size);
    let over = false;
    for (let first = 0; first < count; first += perRecord) {
      const n = Math.min(perRecord, count - first);
      const slot = this.queue.reserve(RecordKind.BROADCAST, 0, broadcastPayloadSize(n, size), 0);
      const frame = writeBroadcastIds(slot.view, slot.offset, ids, first, n);
      const body = websocket
        ? frame + writeFrameHeader(slot.bytes, frame, length, Opcode.BINARY, false)
        : putHeader(slot.bytes, slot.view, frame, headerSize, length);
      copyWords(slot.bytes, slot.view, body, dg._bytes, dg._view, 0, length);
      this.sends += n;
      over = this.queue.sent(maxQueue);
    }
    return over;
  }

  /**
   * Frames `dg` once as a UDP packet (with Panda3D's checksum header unless `raw`) to the
   * first `count` of `addresses`, from `conn`: SEND_TO_MANY records, each with as many
   * addresses as fit beside the packet (at least one). The writer checked every address.
   * Returns true when the overflow is past the budget (as {@link send}).
   */
  sendToMany(conn: ShardConnection, dg: Datagram, addresses: readonly UdpDestination[], count: number, raw: boolean, maxQueue: number): boolean {
    const length = dg.getLength();
    const payload = dg._bytes;
    const header = udpHeaderSize(raw);
    const sum = raw ? 0 : udpChecksum(payload, 0, length);
    const room = this.outbound.maxPayload - COUNT_SIZE - header - length;
    let over = false;
    for (let first = 0; first < count;) {
      let n = 0;
      let addressBytes = 0;
      while (first + n < count) {
        const size = udpAddressSize(addresses[first + n].getIpString());
        if (n > 0 && addressBytes + size > room) break;
        addressBytes += size;
        n++;
      }
      const slot = this.queue.reserve(RecordKind.SEND_TO_MANY, conn.id, COUNT_SIZE + addressBytes + header + length, 0);
      const bytes = slot.bytes;
      let at = writeSendToManyCount(slot.view, slot.offset, n);
      for (let i = 0; i < n; i++) {
        const to = addresses[first + i];
        at = writeDestination(bytes, at, to.getIpString(), to.getPort());
      }
      at = writeChecksum(bytes, at, raw, sum);
      copyWords(bytes, slot.view, at, payload, dg._view, 0, length);
      this.sends += n;
      first += n;
      over = this.queue.sent(maxQueue);
    }
    return over;
  }

  /**
   * Frames `dg` as one UDP packet to `to` (with Panda3D's checksum header unless `raw`)
   * into the outbound ring or its overflow. The writer checked the address. Returns true
   * when the overflow is past the budget (as {@link send}).
   */
  sendTo(conn: ShardConnection, dg: Datagram, to: UdpDestination, raw: boolean, maxQueue: number): boolean {
    const length = dg.getLength();
    const payload = dg._bytes;
    const ip = to.getIpString();
    const slot = this.queue.reserve(RecordKind.SEND_TO, conn.id, sendToPayloadSize(ip, raw, length), 0);
    const at = writeSendToHead(slot.bytes, slot.offset, ip, to.getPort(), raw, raw ? 0 : udpChecksum(payload, 0, length));
    copyWords(slot.bytes, slot.view, at, payload, dg._view, 0, length);
    this.sends++;
    return this.queue.sent(maxQueue);
  }

  /** Payload bytes waiting in the overflow (a full ring's backlog on the main thread). */
  overflowBytes(): number {
    return this.queue.overflowBytes();
  }

  /** Drops connection `id`'s SENDs still in the overflow and has the shard cut it (RST) with `reason`. */
  cut(id: number, reason: number): void {
    this.queue.discardSends(id);
    this.enqueue(RecordKind.CLOSE, id, reason, null);
  }

  /** The connection with the most bytes waiting in the overflow, or -1. */
  largestOverflow(): number {
    return this.queue.largestOverflow();
  }

  /**
   * Tells the shard the main thread has handled `conn`'s CLOSED record: no SEND follows, and
   * the backlog slot is read no more (the shard retires it).
   */
  release(conn: ShardConnection): void {
    // A parked worker shard holds no half-closed peer that RELEASE would end, and no slot
    // it has not retired: it holds nothing, so waking it for one would only cost a run.
    if (this.current !== ShardState.RUNNING) return;
    this.enqueue(RecordKind.RELEASE, conn.id, 0, null);
  }

  /**
   * The shard's thread died: forget what waited for it, closing the duplicated fds of the
   * ADOPT records it never took (in its ring or still in the overflow), which no one else
   * would close, and the sockets waiting for the main-thread shard.
   */
  fail(): void {
    this.transition(ShardEvent.FAIL);
    this.outbound.commit();
    const unread = new SpscRing(this.outbound.buffer);
    while (unread.next()) {
      if (unread.kind === RecordKind.ADOPT) closeAdopted(unread.bytes, unread.offset);
    }
    this.queue.clearOverflow((kind, block, offset) => {
      if (kind === RecordKind.ADOPT) closeAdopted(block, offset);
    });
    if (this.localSockets !== null) {
      for (const socket of this.localSockets.values()) {
        if ('destroy' in socket) socket.destroy();
        else socket.close();
      }
      this.localSockets.clear();
    }
    this.dispose();
  }

  /** Bytes sent to `conn` that its socket has not handed to the kernel yet (send-backlog.ts). */
  sendBacklog(conn: ShardConnection): number {
    const slot = conn.backlogSlot;
    if (slot < 0) return 0;
    const table = this.backlog;
    return Math.max(0, conn.sentBytes - table[slot * 2 + TAKEN]) + table[slot * 2 + QUEUED];
  }

  /** SEND records the shard has not taken from the ring yet. */
  queuedSends(): number {
    return this.sends - this.queue.skippedSends() - this.stats[StatSlot.DATAGRAMS_OUT];
  }

  /** Writes a control record (everything but SEND) in order with the sends: never lost. */
  private enqueue(kind: number, id: number, aux: number, payload: Uint8Array | null): void {
    const slot = this.queue.reserve(kind, id, payload === null ? 0 : payload.length, aux);
    if (payload !== null) slot.bytes.set(payload, slot.offset);
    this.queue.queued();
  }

  /** Publishes what is staged now (the writer's shutdown, a shard that died). */
  commit(): void {
    this.queue.commit();
  }
}
