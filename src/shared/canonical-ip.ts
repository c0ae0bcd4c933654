import net from 'node:net';

const MAPPED_DOTTED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/**
 * One spelling per address, so equal addresses compare and print alike: IPv6 in its
 * canonical compressed form, and an IPv4-mapped IPv6 address (a dual-stack socket's view
 * of an IPv4 peer, `::ffff:1.2.3.4` or `::ffff:102:304`) as the IPv4 address it maps.
 */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  // A zone (fe80::1%eth0) is kept: the address means nothing without it.
  const zoneAt = ip.indexOf('%');
  const zone = zoneAt < 0 ? '' : ip.slice(zoneAt);
  let canonical: string;
  try {
    canonical = new net.SocketAddress({ address: zoneAt < 0 ? ip : ip.slice(0, zoneAt), family: 'ipv6' }).address + zone;
  } catch {
    return ip;
  }
  const dotted = MAPPED_DOTTED.exec(canonical);
  if (dotted) return dotted[1];
  const hex = MAPPED_HEX.exec(canonical);
  if (hex) {
    const high = parseInt(hex[1], 16);
    const low = parseInt(hex[2], 16);
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  return canonical;
}
