/**
 * The outbound records' codecs (issue #24, point 2): what the main thread writes with them
 * the shard reads back with them, at any offset, in a ring's own bytes.
 */
import { describe, expect, it } from 'vitest';
import {
  COUNT_SIZE,
  OPTION_PAYLOAD_SIZE,
  broadcastFrameOffset,
  broadcastIdsPerRecord,
  broadcastPayloadSize,
  readBroadcastCount,
  readBroadcastId,
  readOptionSeconds,
  readOptionValue,
  readSendToManyCount,
  readShutdownDeadline,
  sendToPayloadSize,
  writeBroadcastIds,
  writeChecksum,
  writeDestination,
  writeOption,
  writeSendToHead,
  writeSendToManyCount,
  writeShutdown,
} from '../../../src/shared/protocol/outbound-records.js';
import { readUdpPort, udpAddressSize, udpAddressSpan, UdpAddressText } from '../../../src/shared/protocol/udp-framing.js';

const bytes = new Uint8Array(1024);
const view = new DataView(bytes.buffer);

describe('outbound record codecs', () => {
  it('BROADCAST: count, ids and the frame after them', () => {
    const ids = new Uint32Array([7, 8, 9, 10, 0xffffffff]);
    const at = 12;
    const frame = writeBroadcastIds(view, at, ids, 1, 4);
    expect(frame).toBe(broadcastFrameOffset(at, 4));
    expect(frame - at + 3).toBe(broadcastPayloadSize(4, 3));
    expect(readBroadcastCount(view, at)).toBe(4);
    expect([0, 1, 2, 3].map((i) => readBroadcastId(view, at, i))).toEqual([8, 9, 10, 0xffffffff]);
    // As many ids as fit beside the frame, and always one.
    expect(broadcastIdsPerRecord(COUNT_SIZE + 100 + 40, 100)).toBe(10);
    expect(broadcastIdsPerRecord(50, 100)).toBe(1);
  });

  it('SEND_TO and SEND_TO_MANY: destinations, checksum, datagram', () => {
    const text = new UdpAddressText();
    const at = 20;
    const datagramAt = writeSendToHead(bytes, at, '::1', 5000, false, 0xbeef);
    expect(datagramAt - at).toBe(sendToPayloadSize('::1', false, 0));
    expect(text.ip(bytes, at)).toBe('::1');
    expect(readUdpPort(bytes, at)).toBe(5000);
    expect(bytes[datagramAt - 2] | (bytes[datagramAt - 1] << 8)).toBe(0xbeef);
    expect(writeSendToHead(bytes, at, '10.0.0.1', 7, true, 0)).toBe(at + udpAddressSize('10.0.0.1'));

    let next = writeSendToManyCount(view, 100, 2);
    next = writeDestination(bytes, next, '127.0.0.1', 1);
    next = writeDestination(bytes, next, 'fe80::1%lo', 2);
    const end = writeChecksum(bytes, next, true, 0);
    expect(end).toBe(next);
    expect(readSendToManyCount(view, 100)).toBe(2);
    const second = 100 + COUNT_SIZE + udpAddressSpan(bytes, 100 + COUNT_SIZE);
    expect(text.ip(bytes, 100 + COUNT_SIZE)).toBe('127.0.0.1');
    expect(text.ip(bytes, second)).toBe('fe80::1%lo');
    expect(readUdpPort(bytes, second)).toBe(2);
  });

  it('OPTION and SHUTDOWN', () => {
    writeOption(view, 200, -1, 30);
    expect([readOptionValue(view, 200), readOptionSeconds(view, 200)]).toEqual([-1, 30]);
    expect(OPTION_PAYLOAD_SIZE).toBe(8);
    writeShutdown(view, 208, 1_700_000_000_123.5);
    expect(readShutdownDeadline(view, 208, 8)).toBe(1_700_000_000_123.5);
    expect(readShutdownDeadline(view, 208, 0)).toBe(Infinity);
  });
});
