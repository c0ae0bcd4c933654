import type { SpscRing } from '../../shared/protocol/spsc-ring.js';
import { RecordKind } from '../../shared/protocol/record-kind.js';
import { copyWords } from '../../shared/copy-bytes.js';

/** Bytes of one overflow block; a larger record gets a block of its own. */
const BLOCK_SIZE = 64 * 1024;

/**
 * One overflow record: the ring record it will become, unaligned.
 * ```
 * +0 u32 length   payload bytes
 * +4 u32 id       connection id
 * +8 u8  kind     RecordKind
 * +9 u8  aux
 * +10 payload…
 * ```
 */
const HEADER = 10;

/**
 * Outbound records that found the shard's ring full, kept in order on the main thread until
 * the shard frees room (Panda3D's threaded writer queues; it does not refuse). Records go
 * into a chain of blocks, so a burst costs one allocation per 64 KiB, not one per datagram.
 * Once anything waits here every later record waits behind it, so nothing overtakes.
 */
export class SendOverflow {
  private readonly blocks: Uint8Array[] = [];
  /** A DataView over each block. */
  private readonly views: DataView[] = [];
  /** Bytes used in each block. */
  private readonly ends: number[] = [];
  /** Read position in blocks[0]. */
  private readAt = 0;
  /** Payload bytes waiting for connections that were not cut, headers excluded. */
  bytes = 0;
  /** Records waiting (cut connections' SENDs included until they are passed over). */
  records = 0;
  /** SEND records passed over because their connection was cut (the caller's queue count). */
  skipped = 0;
  /** Payload bytes of SEND records waiting, per connection id (cut ones excluded). */
  private readonly bytesById = new Map<number, number>();
  /** Connections whose SENDs still here are dropped as they are reached. */
  private readonly cut = new Set<number>();
  /** The block the last reserve() placed its payload in, and a DataView over it. */
  target: Uint8Array = new Uint8Array(0);
  targetView: DataView = new DataView(this.target.buffer);

  /** Appends a record of `length` payload bytes; returns the payload's offset in {@link target}. */
  reserve(kind: number, id: number, length: number, aux: number): number {
    const span = HEADER + length;
    const last = this.blocks.length - 1;
    let block: Uint8Array;
    let at: number;
    if (last >= 0 && this.blocks[last].length - this.ends[last] >= span) {
      block = this.blocks[last];
      this.targetView = this.views[last];
      at = this.ends[last];
      this.ends[last] = at + span;
    } else {
      block = new Uint8Array(Math.max(BLOCK_SIZE, span));
      this.targetView = new DataView(block.buffer);
      at = 0;
      this.blocks.push(block);
      this.views.push(this.targetView);
      this.ends.push(span);
    }
    writeU32(block, at, length);
    writeU32(block, at + 4, id);
    block[at + 8] = kind;
    block[at + 9] = aux;
    this.records++;
    // A SEND of a cut connection (the rest of a datagram sent in parts) is passed over when
    // reached, uncounted: it must not count now either.
    if (kind !== RecordKind.SEND) this.bytes += length;
    else if (this.cut.size === 0 || !this.cut.has(id)) {
      this.bytes += length;
      this.bytesById.set(id, (this.bytesById.get(id) ?? 0) + length);
    }
    this.target = block;
    return at + HEADER;
  }

  /**
   * Moves records, oldest first, into `ring` while they fit (staged: the caller commits),
   * passing over the SENDs of cut connections. Returns true when the overflow is empty.
   */
  moveTo(ring: SpscRing): boolean {
    while (this.records > 0) {
      const block = this.blocks[0];
      const at = this.readAt;
      const length = readU32(block, at);
      const id = readU32(block, at + 4);
      const kind = block[at + 8];
      if (kind === RecordKind.SEND && this.cut.size > 0 && this.cut.has(id)) {
        if (block[at + 9] === 0) this.skipped++; // a datagram's later parts (aux 1) are not counted
        this.consumed(length, -1);
        continue;
      }
      const target = ring.reserve(kind, id, length, block[at + 9]);
      if (target < 0) return false;
      copyWords(ring.bytes, ring.view, target, block, this.views[0], at + HEADER, length);
      this.consumed(length, kind === RecordKind.SEND ? id : 0);
    }
    this.cut.clear();
    return true;
  }

  /**
   * Drops the SEND records of connection `id` (it was cut) without touching the others:
   * their bytes stop counting at once, and the records are passed over when reached.
   */
  discardSends(id: number): void {
    const pending = this.bytesById.get(id);
    if (pending === undefined) return;
    this.bytesById.delete(id);
    this.bytes -= pending;
    this.cut.add(id);
  }

  /** The connection with the most SEND bytes waiting here, or -1 when none has any. */
  largest(): number {
    let id = -1;
    let most = 0;
    for (const [candidate, bytes] of this.bytesById) {
      if (bytes > most) {
        most = bytes;
        id = candidate;
      }
    }
    return id;
  }

  /** Hands each waiting record to `visit` in order (kind, its block, payload offset, length), keeping them. */
  forEach(visit: (kind: number, block: Uint8Array, offset: number, length: number) => void): void {
    let at = this.readAt;
    let left = this.records;
    for (let b = 0; b < this.blocks.length && left > 0; b++) {
      const block = this.blocks[b];
      for (; at < this.ends[b] && left > 0; left--) {
        const length = readU32(block, at);
        visit(block[at + 8], block, at + HEADER, length);
        at += HEADER + length;
      }
      at = 0;
    }
  }

  /** Forgets everything (the shard died). */
  clear(): void {
    this.blocks.length = 0;
    this.views.length = 0;
    this.ends.length = 0;
    this.readAt = 0;
    this.bytes = 0;
    this.records = 0;
    this.bytesById.clear();
    this.cut.clear();
  }

  /** Steps past one record: `sendId` is its connection for a live SEND, 0 otherwise, -1 if cut. */
  private consumed(length: number, sendId: number): void {
    this.readAt += HEADER + length;
    this.records--;
    if (sendId >= 0) this.bytes -= length;
    if (sendId > 0) {
      const left = this.bytesById.get(sendId)! - length;
      if (left === 0) this.bytesById.delete(sendId);
      else this.bytesById.set(sendId, left);
    }
    if (this.readAt >= this.ends[0]) {
      this.blocks.shift();
      this.views.shift();
      this.ends.shift();
      this.readAt = 0;
    }
  }
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}
