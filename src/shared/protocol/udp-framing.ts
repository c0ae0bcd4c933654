/**
 * Panda3D's UDP framing and ringwire's records for it.
 *
 * A UDP packet is a u16 little-endian checksum (the sum of the payload bytes, each taken
 * as unsigned, modulo 65536) followed by the payload; in raw mode, the payload alone.
 * A packet shorter than the header or whose checksum does not match is dropped.
 *
 * UDP records carry the peer's address before the payload (UDP_DATA inbound: the sender;
 * SEND_TO outbound: the destination; SEND_TO_MANY: one after another):
 * ```
 * +0  u8  family   4 or 6
 * +1  u8  zone length z (0: none; IPv6 only)
 * +2  u16 port
 * +4  16 bytes IP  (IPv4 in the first 4)
 * +20 z bytes      the IPv6 zone's text (fe80::1%eth0: "eth0"), one byte per character
 * +20+z payload …
 * ```
 * An address takes {@link UDP_ADDRESS_SIZE} bytes plus its zone: a link-local peer stays
 * reachable (a reply needs the zone to be routed), and every other address costs nothing more.
 */
export const UDP_HEADER_SIZE = 2;
/** The fixed part of an address: family, zone length, port, IP. */
export const UDP_ADDRESS_SIZE = 20;
/** The longest zone an address carries (characters; an interface name is at most 15 on Linux). */
export const UDP_ZONE_MAX = 255;

/** Panda3D's maximum_udp_datagram: what `isValidForUdp` accepts. */
export const MAXIMUM_UDP_DATAGRAM = 1500;

/** The most an IPv4 UDP packet can carry (65535 − 8 UDP − 20 IP header bytes). */
export const MAX_UDP_PAYLOAD = 65507;

/** Panda3D's UDP checksum of bytes[start, end). */
export function udpChecksum(bytes: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i];
  return sum & 0xffff;
}

/**
 * The bytes {@link writeUdpAddress} writes for `ip`: {@link UDP_ADDRESS_SIZE}, plus the
 * length of an IPv6 zone; -1 for a zone longer than {@link UDP_ZONE_MAX}.
 */
export function udpAddressSize(ip: string): number {
  const zone = ip.indexOf('%');
  if (zone < 0) return UDP_ADDRESS_SIZE;
  const length = ip.length - zone - 1;
  return length > UDP_ZONE_MAX ? -1 : UDP_ADDRESS_SIZE + length;
}

/** The bytes the address written at `offset` takes (where what follows it begins). */
export function udpAddressSpan(bytes: Uint8Array, offset: number): number {
  return UDP_ADDRESS_SIZE + bytes[offset + 1];
}

/**
 * Writes `ip` (an IPv4 or IPv6 literal, an IPv6 one with its zone) and `port` at
 * bytes[offset, offset + udpAddressSize(ip)). Returns false, writing nothing useful, for
 * text that is not an IP literal or a zone past {@link UDP_ZONE_MAX}.
 */
export function writeUdpAddress(bytes: Uint8Array, offset: number, ip: string, port: number): boolean {
  bytes.fill(0, offset, offset + UDP_ADDRESS_SIZE);
  bytes[offset + 2] = port & 0xff;
  bytes[offset + 3] = port >>> 8;
  if (ip.indexOf(':') < 0) {
    bytes[offset] = 4;
    let part = 0;
    let value = 0;
    let digits = 0;
    for (let i = 0; i <= ip.length; i++) {
      const c = i < ip.length ? ip.charCodeAt(i) : 46;
      if (c === 46) {
        if (digits === 0 || value > 255 || part > 3) return false;
        bytes[offset + 4 + part++] = value;
        value = 0;
        digits = 0;
      } else if (c >= 48 && c <= 57) {
        value = value * 10 + (c - 48);
        digits++;
      } else {
        return false;
      }
    }
    return part === 4;
  }
  // A dual-stack socket sees an IPv4 peer as ::ffff:a.b.c.d: it is that IPv4 address.
  if (MAPPED_V4.test(ip)) return writeUdpAddress(bytes, offset, ip.slice(7), port);
  bytes[offset] = 6;
  const zone = ip.indexOf('%');
  if (zone < 0) return writeIpv6(bytes, offset + 4, ip);
  const length = ip.length - zone - 1;
  if (length > UDP_ZONE_MAX) return false;
  bytes[offset + 1] = length;
  for (let i = 0; i < length; i++) bytes[offset + UDP_ADDRESS_SIZE + i] = ip.charCodeAt(zone + 1 + i);
  return writeIpv6(bytes, offset + 4, ip.slice(0, zone));
}

const MAPPED_V4 = /^::ffff:\d+\.\d+\.\d+\.\d+$/i;

function writeIpv6(bytes: Uint8Array, at: number, ip: string): boolean {
  const halves = ip.split('::');
  if (halves.length > 2) return false;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : [];
  const groups: number[] = [];
  const parse = (parts: string[]): boolean => {
    for (const p of parts) {
      if (p.includes('.')) {
        const v4 = new Uint8Array(UDP_ADDRESS_SIZE);
        if (!writeUdpAddress(v4, 0, p, 0)) return false;
        groups.push((v4[4] << 8) | v4[5], (v4[6] << 8) | v4[7]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false;
        groups.push(parseInt(p, 16));
      }
    }
    return true;
  };
  if (!parse(head)) return false;
  const headCount = groups.length;
  if (!parse(tail)) return false;
  const missing = 8 - groups.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return false;
  const all = [...groups.slice(0, headCount), ...new Array<number>(missing).fill(0), ...groups.slice(headCount)];
  for (let i = 0; i < 8; i++) {
    bytes[at + i * 2] = all[i] >>> 8;
    bytes[at + i * 2 + 1] = all[i] & 0xff;
  }
  return true;
}

/** The port of an address written by writeUdpAddress. */
export function readUdpPort(bytes: Uint8Array, offset: number): number {
  return bytes[offset + 2] | (bytes[offset + 3] << 8);
}

/**
 * Turns the IP of an address written by writeUdpAddress back into text. IPv4 strings are
 * cached by value, so a busy peer costs no allocation per packet.
 */
export class UdpAddressText {
  private readonly v4 = new Map<number, string>();
  private readonly mapped = new Map<number, string>();

  /**
   * The IP as a destination for a dual-stack (IPv6) socket, which cannot send to an IPv4
   * literal: an IPv4 address becomes its IPv4-mapped form, ::ffff:a.b.c.d.
   */
  ipForDualStack(bytes: Uint8Array, offset: number): string {
    if (bytes[offset] !== 4) return this.ip(bytes, offset);
    const key = ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) | (bytes[offset + 6] << 8) | bytes[offset + 7]) >>> 0;
    let text = this.mapped.get(key);
    if (text === undefined) {
      if (this.mapped.size >= 65536) this.mapped.clear();
      text = `::ffff:${this.ip(bytes, offset)}`;
      this.mapped.set(key, text);
    }
    return text;
  }

  /** The IP as text, an IPv6 zone included (fe80::1%eth0). */
  ip(bytes: Uint8Array, offset: number): string {
    if (bytes[offset] === 4) {
      const key = ((bytes[offset + 4] << 24) | (bytes[offset + 5] << 16) | (bytes[offset + 6] << 8) | bytes[offset + 7]) >>> 0;
      let text = this.v4.get(key);
      if (text === undefined) {
        if (this.v4.size >= 65536) this.v4.clear();
        text = `${bytes[offset + 4]}.${bytes[offset + 5]}.${bytes[offset + 6]}.${bytes[offset + 7]}`;
        this.v4.set(key, text);
      }
      return text;
    }
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(((bytes[offset + 4 + i * 2] << 8) | bytes[offset + 5 + i * 2]).toString(16));
    const text = compressIpv6(groups);
    const zone = bytes[offset + 1];
    if (zone === 0) return text;
    let name = '';
    for (let i = 0; i < zone; i++) name += String.fromCharCode(bytes[offset + UDP_ADDRESS_SIZE + i]);
    return `${text}%${name}`;
  }
}

/** The shortest text form: the longest run of zero groups becomes '::'. */
function compressIpv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}
