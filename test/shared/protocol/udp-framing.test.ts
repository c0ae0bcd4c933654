import { describe, expect, it } from 'vitest';
import {
  UDP_ADDRESS_SIZE,
  UDP_ZONE_MAX,
  UdpAddressText,
  readUdpPort,
  udpAddressSize,
  udpAddressSpan,
  writeUdpAddress,
} from '../../../src/shared/protocol/udp-framing.js';

/** Writes `ip`:`port` as a record would carry it, then reads it back as the other thread does. */
function roundTrip(ip: string, port: number): { text: string; dualStack: string; port: number; span: number; size: number } {
  const size = udpAddressSize(ip);
  const bytes = new Uint8Array(8 + size + 4).fill(0xee);
  expect(writeUdpAddress(bytes, 8, ip, port)).toBe(true);
  expect(bytes[8 + size]).toBe(0xee); // nothing written past the address
  const text = new UdpAddressText();
  return { text: text.ip(bytes, 8), dualStack: text.ipForDualStack(bytes, 8), port: readUdpPort(bytes, 8), span: udpAddressSpan(bytes, 8), size };
}

describe('UDP address records', () => {
  it('carry IPv4, IPv6 and IPv4-mapped addresses in the fixed 20 bytes', () => {
    expect(roundTrip('192.0.2.7', 9100)).toEqual({ text: '192.0.2.7', dualStack: '::ffff:192.0.2.7', port: 9100, span: UDP_ADDRESS_SIZE, size: UDP_ADDRESS_SIZE });
    expect(roundTrip('::1', 1)).toEqual({ text: '::1', dualStack: '::1', port: 1, span: UDP_ADDRESS_SIZE, size: UDP_ADDRESS_SIZE });
    expect(roundTrip('2001:db8:0:0:1:0:0:1', 65535).text).toBe('2001:db8::1:0:0:1');
    expect(roundTrip('::ffff:10.0.0.1', 5).text).toBe('10.0.0.1');
  });

  it("keep an IPv6 address's zone: a link-local sender stays reachable", () => {
    const zoned = roundTrip('fe80::fc:ff:fe00:1%eth0', 4000);
    expect(zoned).toEqual({
      text: 'fe80::fc:ff:fe00:1%eth0',
      dualStack: 'fe80::fc:ff:fe00:1%eth0',
      port: 4000,
      span: UDP_ADDRESS_SIZE + 4,
      size: UDP_ADDRESS_SIZE + 4,
    });
    expect(roundTrip('fe80::1%7', 1).text).toBe('fe80::1%7'); // Windows names a zone by its index
    const longest = `fe80::1%${'z'.repeat(UDP_ZONE_MAX)}`;
    expect(roundTrip(longest, 1).text).toBe(longest);
  });

  it('size a zone past UDP_ZONE_MAX as -1, and refuse to write it', () => {
    const ip = `fe80::1%${'z'.repeat(UDP_ZONE_MAX + 1)}`;
    expect(udpAddressSize(ip)).toBe(-1);
    expect(writeUdpAddress(new Uint8Array(400), 0, ip, 1)).toBe(false);
    expect(udpAddressSize('10.0.0.1')).toBe(UDP_ADDRESS_SIZE);
  });
});
