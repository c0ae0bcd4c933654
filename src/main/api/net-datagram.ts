import { Datagram } from '../../shared/datagram.js';
import type { Connection } from './connection.js';
import { NetAddress } from './net-address.js';

const NO_ADDRESS = new NetAddress();

/** A Datagram that also says which connection and address it came from; reused by getData. */
export class NetDatagram extends Datagram {
  private connection: Connection | null = null;
  private address: NetAddress = NO_ADDRESS;
  /** The sender of a UDP datagram: this datagram's own, refilled on each getData. */
  private readonly udpSender = new NetAddress();

  /**
   * Empty, a copy of bytes, or a copy of a Datagram. As in Panda3D, a copy of a NetDatagram
   * keeps its connection and address; a copy of a plain Datagram has neither.
   */
  constructor(data?: Uint8Array | ArrayLike<number> | Datagram) {
    super(data);
    if (data instanceof NetDatagram) {
      this.connection = data.connection;
      if (data.address === data.udpSender) {
        this.udpSender.assign(data.udpSender);
        this.address = this.udpSender;
      } else {
        this.address = data.address;
      }
    }
  }

  /** Makes the datagram empty and forgets its connection and address, as Panda3D's clear(). */
  override clear(): void {
    super.clear();
    this.connection = null;
    this.address = NO_ADDRESS;
  }

  /** The connection the datagram arrived on, or null for one built locally. */
  getConnection(): Connection | null {
    return this.connection;
  }

  /** The sender's address (0.0.0.0:0 for one built locally). Shared: do not modify it. */
  getAddress(): NetAddress {
    return this.address;
  }

  /** Sets the connection (and its address) the datagram belongs to. */
  setConnection(connection: Connection | null): void {
    this.connection = connection;
    this.address = connection === null ? NO_ADDRESS : connection.getAddress();
  }

  /** Sets a UDP datagram's connection and sender (copied into this datagram's own address). */
  setUdpSource(connection: Connection, ip: string, port: number): void {
    this.connection = connection;
    // The ring's text is canonical already (udp-framing.ts): once per datagram, no parsing.
    this.udpSender._setCanonical(ip, port);
    this.address = this.udpSender;
  }

  /** Sets the address alone. */
  setAddress(address: NetAddress): void {
    this.address = address;
  }
}
