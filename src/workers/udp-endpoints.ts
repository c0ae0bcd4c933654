import { type RemoteInfo, type Socket as UdpSocket, createSocket } from 'node:dgram';
import { closeQuietly } from '../shared/close-fd.js';
import { RecordKind } from '../shared/protocol/record-kind.js';
import { ResetReasonCode } from '../shared/reset-reason.js';
import { StatSlot } from '../shared/protocol/shard-stats.js';
import type { SpscRing } from '../shared/protocol/spsc-ring.js';
import { copyBytes } from '../shared/copy-bytes.js';
import {
  UDP_ADDRESS_SIZE,
  UDP_HEADER_SIZE,
  UdpAddressText,
  readUdpPort,
  udpChecksum,
  writeUdpAddress,
} from '../shared/protocol/udp-framing.js';

/** One UDP socket a shard owns. */
class UdpEndpoint {
  reading = false;
  raw = false;
  closed = false;
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
 * the ring is dropped and counted rather than held.
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

  setReading(id: number, on: boolean, raw: boolean): void {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined) return;
    endpoint.reading = on;
    endpoint.raw = raw;
  }

  /** One received packet: check it, then queue it with its sender's address. */
  onMessage(endpoint: UdpEndpoint, message: Buffer, from: RemoteInfo): void {
    if (!endpoint.reading || endpoint.closed) return;
    let start = 0;
    if (!endpoint.raw) {
      if (message.length < UDP_HEADER_SIZE) {
        this.stats[StatSlot.UDP_REJECTED]++;
        return;
      }
      const expected = message[0] | (message[1] << 8);
      if (udpChecksum(message, UDP_HEADER_SIZE, message.length) !== expected) {
        this.stats[StatSlot.UDP_REJECTED]++;
        return;
      }
      start = UDP_HEADER_SIZE;
    }
    const length = message.length - start;
    const ring = this.inbound;
    if (UDP_ADDRESS_SIZE + length > ring.maxPayload) {
      this.stats[StatSlot.UDP_REJECTED]++;
      return;
    }
    const at = ring.reserve(RecordKind.UDP_DATA, endpoint.id, UDP_ADDRESS_SIZE + length);
    if (at < 0) {
      this.stats[StatSlot.UDP_OVERFLOW]++;
      return;
    }
    writeUdpAddress(ring.bytes, at, from.address, from.port);
    copyBytes(ring.bytes, at + UDP_ADDRESS_SIZE, message, start, length);
    ring.commit();
    this.stats[StatSlot.DATAGRAMS_IN]++;
    this.stats[StatSlot.BYTES_IN] += length;
  }

  /** Sends one framed packet from a SEND_TO record. Returns the bytes handed to the socket. */
  sendTo(id: number, bytes: Uint8Array, offset: number, length: number): number {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined || endpoint.closed) return 0;
    const port = readUdpPort(bytes, offset);
    // Port 0 cannot be sent to (Node throws); the writer refuses it, so this is defence only.
    if (port === 0) return 0;
    const size = length - UDP_ADDRESS_SIZE;
    // The socket keeps the buffer until the packet is sent: it cannot point into the ring.
    const packet = Buffer.allocUnsafe(size);
    copyBytes(packet, 0, bytes, offset + UDP_ADDRESS_SIZE, size);
    endpoint.socket.send(packet, port, this.destination(endpoint, bytes, offset));
    return size;
  }

  /**
   * Sends the packet of a SEND_TO_MANY record to each of its `count` addresses (from
   * `offset`; the packet runs from after them to `end`): one copy of the packet, shared by
   * every send. Returns the bytes handed to the socket.
   */
  sendToMany(id: number, bytes: Uint8Array, offset: number, count: number, end: number): number {
    const endpoint = this.endpoints.get(id);
    if (endpoint === undefined || endpoint.closed) return 0;
    const start = offset + count * UDP_ADDRESS_SIZE;
    const size = end - start;
    const packet = Buffer.allocUnsafe(size);
    copyBytes(packet, 0, bytes, start, size);
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const at = offset + i * UDP_ADDRESS_SIZE;
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
