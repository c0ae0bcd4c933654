import { type RemoteInfo, type Socket as UdpSocket, createSocket } from 'node:dgram';
import { closeQuietly } from '../shared/close-fd.js';
import { RecordKind } from '../shared/protocol/record-kind.js';
import { ResetReasonCode } from '../shared/reset-reason.js';
import { StatSlot } from '../shared/protocol/shard-stats.js';
import type { SpscRing } from '../shared/protocol/spsc-ring.js';
import { copyBytes } from '../shared/copy-bytes.js';
import {
  UDP_HEADER_SIZE,
  UdpAddressText,
  readUdpPort,
  udpAddressSize,
  udpAddressSpan,
  udpChecksum,
  writeUdpAddress,
} from '../shared/protocol/udp-framing.js';

/**
 * Most packets a UDP connection in no reader (before addConnection, after removeConnection)
 * holds for its next reader, as the kernel holds them for Panda3D until a reader reads.
 * Their bytes are bounded too, by the socket's receive buffer size (SO_RCVBUF). Packets
 * past either bound are dropped and counted (UDP_UNREAD).
 */
export const UDP_HELD_PACKETS = 1024;

/** The bytes bound when the socket cannot tell its receive buffer size (Linux's default). */
const HELD_BYTES_DEFAULT = 212992;

/** One UDP socket a shard owns. */
class UdpEndpoint {
  reading = false;
  raw = false;
  closed = false;
  /** Packets that came while in no reader, oldest first, with their senders (Node's own objects, kept, not copied). */
  readonly held: Buffer[] = [];
  readonly heldFrom: string[] = [];
  readonly heldPorts: number[] = [];
  heldBytes = 0;
  /** The bytes bound of held packets: the receive buffer size, read when the first is held. */
  heldLimit = 0;
  readonly onMessage: (message: Buffer, from: RemoteInfo) => void;

  constructor(
    readonly id: number,
    readonly socket: UdpSocket,
    /** An IPv6 socket (dual-stack when bound to ::): IPv4 destinations go IPv4-mapped. */
    readonly ipv6: boolean,
    owner: UdpEndpoints,
  ) {
    this.onMessage = owner.onMessage.bind(owner, this);
  }
}

/**
 * A shard's UDP sockets: packets are checked against Panda3D's checksum header (unless in
 * raw mode) and written to the inbound ring with their sender's address; SEND_TO records
 * become packets. UDP keeps no order or delivery promise, so a packet that does not fit
 * the ring is dropped and counted rather than held. A connection in no reader holds what
 * comes (up to UDP_HELD_PACKETS) for its next reader: Node's dgram cannot stop reading a
 * socket, so the shard keeps the packets Panda3D would find in the kernel's buffer.
 */
export class UdpEndpoints {
  private readonly endpoints = new Map<number, UdpEndpoint>();
  private readonly addressText = new UdpAddressText();
  constructor(
    private readonly inbound: SpscRing,
    private readonly stats: Float64Array,
    /** Writes a CLOSED record for a connection id, now or once the ring has room. */
    private readonly report: (id: number, reason: number) => void,
  ) {}

  get size(): number {
    return this.endpoints.size;
  }

  /** Takes a UDP socket: a duplicated fd (worker) or the socket object (main-thread shard). */
  adopt(id: number, fd: number, local: UdpSocket | undefined, broadcast: boolean, ipv6: boolean): void {
    let socket = local;
    if (socket === undefined && fd >= 0) {
      try {
        // The type must match the descriptor's family: it decides how destinations resolve.
        socket = createSocket({ type: ipv6 ? 'udp6' : 'udp4' });
        socket.bind({ fd });
      } catch {
        // The duplicated descriptor is ours alone: close it, or it leaks.
        closeQuietly(fd);
        socket = undefined;
      }
    }
    if (socket === undefined) {
      this.report(id, ResetReasonCode.ERROR);
      return;
    }
    const endpoint = new UdpEndpoint(id, socket, ipv6, this);
    this.endpoints.set(id, endpoint);
    socket.on('message', endpoint.onMessage);
    socket.on('error', () => this.close(id, ResetReasonCode.ERROR));
    if (broadcast) {
      // setBroadcast needs a bound socket: an adopted fd is bound once 'listening' fires.
      if (local !== undefined) socket.setBroadcast(true);
      else socket.once('listening', () => socket.setBroadcast(true));
    }
  }

  /** The open socket of UDP connection `id`, or null. */
  socketOf(id: number): UdpSocket | null {
    const endpoint = this.endpoints.get(id);
    return endpoint === undefined || endpoint.closed ? null : endpoint.socket;
  }

  /** READ: start reading (handing over what was held, checked with the reader's framing), or stop. */
  setReading(id: number, on: boolean, raw: boolean): void {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined) return;
    endpoint.reading = on;
    endpoint.raw = raw;
    if (on && endpoint.held.length > 0) this.handOverHeld(endpoint);
  }

  /** One received packet: queued for the reader, or held while the connection is in none. */
  onMessage(endpoint: UdpEndpoint, message: Buffer, from: RemoteInfo): void {
    if (endpoint.closed) return;
    if (!endpoint.reading) {
      this.hold(endpoint, message, from);
      return;
    }
    if (this.enqueue(endpoint, message, from.address, from.port)) this.inbound.commit();
  }

  /**
   * Checks a packet and stages it in the ring with its sender's address (the caller
   * commits). Returns false when it was dropped (and counted).
   */
  private enqueue(endpoint: UdpEndpoint, message: Buffer, address: string, port: number): boolean {
    let start = 0;
    if (!endpoint.raw) {
      if (message.length < UDP_HEADER_SIZE) {
        this.stats[StatSlot.UDP_REJECTED]++;
        return false;
      }
      const expected = message[0] | (message[1] << 8);
      if (udpChecksum(message, UDP_HEADER_SIZE, message.length) !== expected) {
        this.stats[StatSlot.UDP_REJECTED]++;
        return false;
      }
      start = UDP_HEADER_SIZE;
    } else if (message.length === 0) {
      // Panda3D never delivers an empty raw packet (its reader takes a 0-byte read for none).
      this.stats[StatSlot.UDP_REJECTED]++;
      return false;
    }
    const length = message.length - start;
    const ring = this.inbound;
    const addressSize = udpAddressSize(address);
    if (addressSize < 0 || addressSize + length > ring.maxPayload) {
      this.stats[StatSlot.UDP_REJECTED]++;
      return false;
    }
    const at = ring.reserve(RecordKind.UDP_DATA, endpoint.id, addressSize + length);
    if (at < 0) {
      this.stats[StatSlot.UDP_OVERFLOW]++;
      return false;
    }
    writeUdpAddress(ring.bytes, at, address, port);
    copyBytes(ring.bytes, at + addressSize, message, start, length);
    this.stats[StatSlot.DATAGRAMS_IN]++;
    this.stats[StatSlot.BYTES_IN] += length;
    return true;
  }

  /** Keeps a packet that came while the connection is in no reader, within the bounds. */
  private hold(endpoint: UdpEndpoint, message: Buffer, from: RemoteInfo): void {
    const held = endpoint.held;
    if (held.length === 0) endpoint.heldLimit = receiveBufferSize(endpoint.socket);
    if (held.length >= UDP_HELD_PACKETS || endpoint.heldBytes + message.length > endpoint.heldLimit) {
      this.stats[StatSlot.UDP_UNREAD]++;
      return;
    }
    held.push(message);
    endpoint.heldFrom.push(from.address);
    endpoint.heldPorts.push(from.port);
    endpoint.heldBytes += message.length;
  }

  /** The connection is read again: what it held goes to the ring first, in order. */
  private handOverHeld(endpoint: UdpEndpoint): void {
    const { held, heldFrom, heldPorts } = endpoint;
    let written = false;
    for (let i = 0; i < held.length; i++) {
      if (this.enqueue(endpoint, held[i], heldFrom[i], heldPorts[i])) written = true;
    }
    forgetHeld(endpoint);
    if (written) this.inbound.commit();
  }

  /** Sends one framed packet from a SEND_TO record. Returns the bytes handed to the socket. */
  sendTo(id: number, bytes: Uint8Array, offset: number, length: number): number {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined || endpoint.closed) return 0;
    const port = readUdpPort(bytes, offset);
    // Port 0 cannot be sent to (Node throws); the writer refuses it, so this is defence only.
    if (port === 0) return 0;
    const span = udpAddressSpan(bytes, offset);
    const size = length - span;
    // The socket keeps the buffer until the packet is sent: it cannot point into the ring.
    const packet = Buffer.allocUnsafe(size);
    copyBytes(packet, 0, bytes, offset + span, size);
    endpoint.socket.send(packet, port, this.destination(endpoint, bytes, offset));
    return size;
  }

  /**
   * Sends the packet of a SEND_TO_MANY record to each of its `count` addresses (one after
   * another from `offset`; the packet runs from after them to `end`): one copy of the
   * packet, shared by every send. Returns the bytes handed to the socket.
   */
  sendToMany(id: number, bytes: Uint8Array, offset: number, count: number, end: number): number {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined || endpoint.closed) return 0;
    let start = offset;
    for (let i = 0; i < count; i++) start += udpAddressSpan(bytes, start);
    const size = end - start;
    const packet = Buffer.allocUnsafe(size);
    copyBytes(packet, 0, bytes, start, size);
    let sent = 0;
    for (let i = 0, at = offset; i < count; i++, at += udpAddressSpan(bytes, at)) {
      const port = readUdpPort(bytes, at);
      if (port === 0) continue;
      endpoint.socket.send(packet, port, this.destination(endpoint, bytes, at));
      sent += size;
    }
    return sent;
  }

  private destination(endpoint: UdpEndpoint, bytes: Uint8Array, at: number): string {
    return endpoint.ipv6 ? this.addressText.ipForDualStack(bytes, at) : this.addressText.ip(bytes, at);
  }

  /** Closes the socket and reports CLOSED with `reason`. */
  close(id: number, reason: number): void {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined || endpoint.closed) return;
    endpoint.closed = true;
    forgetHeld(endpoint); // as closing a socket drops what its kernel buffer held
    this.endpoints.delete(id);
    try {
      endpoint.socket.close();
    } catch {
      // Already closed by an error: nothing left to release.
    }
    this.report(id, reason);
  }

  closeAll(): void {
    for (const id of [...this.endpoints.keys()]) this.close(id, ResetReasonCode.CLOSED_LOCALLY);
  }
}

/** Lets go of the packets `endpoint` held. */
function forgetHeld(endpoint: UdpEndpoint): void {
  endpoint.held.length = 0;
  endpoint.heldFrom.length = 0;
  endpoint.heldPorts.length = 0;
  endpoint.heldBytes = 0;
}

/** The socket's receive buffer size (what the kernel would hold for it), or Linux's default. */
function receiveBufferSize(socket: UdpSocket): number {
  try {
    return socket.getRecvBufferSize();
  } catch {
    return HELD_BYTES_DEFAULT;
  }
}
