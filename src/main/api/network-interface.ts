import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { NetAddress } from './net-address.js';

/**
 * One address of one network interface, as Panda3D's ConnectionManager::Interface reports
 * it (`manager.scanInterfaces()`, then `getInterface(n)`): the interface's name and MAC
 * address, the IP address with its netmask, and the broadcast address of an IPv4
 * interface that has one. Taken from `os.networkInterfaces()`, which lists only interfaces
 * that are up; point-to-point peers are not reported there, so `hasP2p()` is false.
 */
export class Interface {
  private readonly ip = new NetAddress();
  private readonly netmask = new NetAddress();
  private readonly broadcast = new NetAddress();
  private readonly hasBroadcastAddress: boolean;

  constructor(
    private readonly name: string,
    private readonly info: NetworkInterfaceInfo,
  ) {
    this.ip.setFromSocket(info.address, 0);
    this.netmask.setFromSocket(info.netmask, 0);
    // Linux gives loopback no broadcast address; other IPv4 interfaces have address | ~mask.
    this.hasBroadcastAddress = info.family === 'IPv4' && !info.internal;
    if (this.hasBroadcastAddress) {
      const address = info.address.split('.').map(Number);
      const mask = info.netmask.split('.').map(Number);
      this.broadcast.setFromSocket(address.map((byte, i) => (byte | (~mask[i] & 0xff)) & 0xff).join('.'), 0);
    }
  }

  /** The interface's name ('eth0', 'lo'). */
  getName(): string {
    return this.name;
  }

  /** The MAC address as hex bytes joined by '-' ('00-00-00-00-00-00' for loopback). */
  getMacAddress(): string {
    return this.info.mac.replace(/:/g, '-');
  }

  hasIp(): boolean {
    return true;
  }

  /** The interface's IP address (port 0). */
  getIp(): NetAddress {
    return this.ip;
  }

  hasNetmask(): boolean {
    return true;
  }

  /** The netmask, as an address (255.255.255.0; ffff:ffff:ffff:ffff:: for IPv6). */
  getNetmask(): NetAddress {
    return this.netmask;
  }

  /** True for an IPv4 interface that is not loopback. */
  hasBroadcast(): boolean {
    return this.hasBroadcastAddress;
  }

  /** The directed broadcast address (0.0.0.0 when hasBroadcast() is false). */
  getBroadcast(): NetAddress {
    return this.broadcast;
  }

  /** False: Node does not report point-to-point peers. */
  hasP2p(): boolean {
    return false;
  }

  /** 0.0.0.0: Node does not report point-to-point peers. */
  getP2p(): NetAddress {
    return new NetAddress();
  }

  /** True: Node lists only interfaces that are up. */
  isOperational(): boolean {
    return true;
  }

  /** True for an IPv6 address. */
  isIpv6(): boolean {
    return this.info.family === 'IPv6';
  }

  /** 'eth0 [10.0.0.2 netmask 255.255.255.0 broadcast 10.0.0.255]', as Panda3D prints one. */
  toString(): string {
    const parts = [this.ip.getIpString(), `netmask ${this.netmask.getIpString()}`];
    if (this.hasBroadcastAddress) parts.push(`broadcast ${this.broadcast.getIpString()}`);
    return `${this.name} [${parts.join(' ')}]`;
  }
}

/** Every address of every interface that is up, in `os.networkInterfaces()` order. */
export function scanInterfaces(): Interface[] {
  const found: Interface[] = [];
  for (const [name, infos] of Object.entries(networkInterfaces())) {
    for (const info of infos ?? []) found.push(new Interface(name, info));
  }
  return found;
}
