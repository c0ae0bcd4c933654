/**
 * The shared-memory layout of an SpscRing, declared once for both threads.
 *
 * ```
 * byte 0    ┌──────────────────────────────────────────────────────────────┐
 *           │ HEAD (i32 #0)  producer's published write position           │ cache line written
 *           │ CONSUMER_WAITING (i32 #1)  1 while the consumer is parked     │ by the producer
 * byte 64   ├──────────────────────────────────────────────────────────────┤
 *           │ TAIL (i32 #16) consumer's published read position            │ cache line written
 *           │ PRODUCER_WAITING (i32 #17) 1 while the producer is parked     │ by the consumer
 * byte 128  ├──────────────────────────────────────────────────────────────┤
 *           │ CAPACITY (i32 #32) data bytes, a power of two (read-only)     │
 * byte 192  ├──────────────────────────────────────────────────────────────┤
 *           │ data: capacity bytes of 8-byte aligned records               │
 *           └──────────────────────────────────────────────────────────────┘
 * ```
 *
 * HEAD and TAIL are free-running u32 byte counters (stored in i32 words so that
 * Atomics.waitAsync can watch them); `(head - tail) >>> 0` is the bytes in use and
 * `counter & (capacity - 1)` the offset in the data area. Each lives on its own cache
 * line so the two threads do not invalidate each other's line on every publish.
 *
 * A record:
 * ```
 * +0  u32 payload length  (WRAP_MARKER: the rest of the area is unused, go to offset 0)
 * +4  u32 connection id
 * +8  u8  kind            (see record-kind.ts)
 * +9  u8  aux             (kind-specific: e.g. a reset reason)
 * +10 u16 reserved
 * +12 payload …           then padding to the next multiple of 8
 * ```
 * Fields are little-endian (read through DataView with littleEndian = true).
 */
export const HEAD = 0;
export const CONSUMER_WAITING = 1;
export const TAIL = 16;
export const PRODUCER_WAITING = 17;
export const CAPACITY = 32;

/** Byte offset of the data area in the SharedArrayBuffer. */
export const DATA_OFFSET = 192;

export const RECORD_HEADER_SIZE = 12;
export const RECORD_ALIGN = 8;
export const OFF_LENGTH = 0;
export const OFF_CONNECTION = 4;
export const OFF_KIND = 8;
export const OFF_AUX = 9;

/** Written in the length field where a record did not fit before the end of the area. */
export const WRAP_MARKER = 0xffffffff;

/** Smallest and largest data capacity a ring accepts (bytes, powers of two). */
export const MIN_RING_CAPACITY = 256;
export const MAX_RING_CAPACITY = 1 << 30;

/**
 * The largest payload one record of a ring with `capacity` data bytes can hold: half the
 * ring, less the record header (so a record can always fit after a wrap). The one formula
 * for it: the ring, the reader's datagram limit and the writer's checks all use it.
 */
export function maxRecordPayload(capacity: number): number {
  return capacity / 2 - RECORD_HEADER_SIZE;
}

/** Bytes a record with `payloadLength` payload bytes occupies in the data area. */
export function recordSpan(payloadLength: number): number {
  return (RECORD_HEADER_SIZE + payloadLength + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
}
