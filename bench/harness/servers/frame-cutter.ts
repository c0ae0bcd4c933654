/**
 * Cuts a TCP byte stream into Panda3D frames (a u16 or u32 little-endian payload length,
 * then the payload) the way a careful single-threaded `node:net` server does: frames
 * that lie whole inside a chunk are handed out in place, as (chunk, start, end), with no
 * copy; only a frame split across chunks is kept, as a list of slices, and concatenated
 * once, when its last byte arrives.
 */

/** Receives each complete frame; `bytes[start, end)` is the frame, header included. */
export interface FrameSink {
  frame(bytes: Buffer, start: number, end: number): void;
}

/** Largest payload a u32 header may announce here (a larger one is refused). */
export const MAX_U32_PAYLOAD = 16 * 1024 * 1024;

export class FrameCutter {
  /** Slices of the frame split across chunks, oldest first. */
  private parts: Buffer[] = [];
  /** Bytes in `parts`. */
  private have = 0;
  /** Header plus payload of the split frame, or -1 while its header is incomplete. */
  private total = -1;
  private readonly maxPayload: number;

  constructor(private readonly headerSize: 2 | 4) {
    this.maxPayload = headerSize === 2 ? 0xffff : MAX_U32_PAYLOAD;
  }

  /**
   * Hands every frame completed by `chunk` to `sink`, in order. Returns false when a header
   * announces more than the limit (the caller should drop the connection).
   */
  push(chunk: Buffer, sink: FrameSink): boolean {
    const h = this.headerSize;
    const end = chunk.length;
    let off = 0;
    if (this.have > 0) {
      if (this.total < 0) {
        // The header itself was split: at most 3 bytes wait.
        const need = h - this.have;
        if (end < need) {
          this.parts.push(chunk);
          this.have += end;
          return true;
        }
        const header = Buffer.concat([...this.parts, chunk.subarray(0, need)], h);
        const length = readLength(header, 0, h);
        if (length > this.maxPayload) return false;
        this.parts = [header];
        this.have = h;
        this.total = h + length;
        off = need;
      }
      const missing = this.total - this.have;
      if (end - off < missing) {
        this.parts.push(off === 0 ? chunk : chunk.subarray(off));
        this.have += end - off;
        return true;
      }
      this.parts.push(chunk.subarray(off, off + missing));
      const frame = Buffer.concat(this.parts, this.total);
      off += missing;
      this.parts = [];
      this.have = 0;
      this.total = -1;
      sink.frame(frame, 0, frame.length);
    }
    while (end - off >= h) {
      const length = readLength(chunk, off, h);
      if (length > this.maxPayload) return false;
      const next = off + h + length;
      if (next > end) break;
      sink.frame(chunk, off, next);
      off = next;
    }
    if (off < end) {
      this.parts.push(chunk.subarray(off));
      this.have = end - off;
      this.total = end - off >= h ? h + readLength(chunk, off, h) : -1;
    }
    return true;
  }
}

function readLength(bytes: Buffer, at: number, headerSize: 2 | 4): number {
  return headerSize === 2 ? bytes[at] | (bytes[at + 1] << 8) : bytes.readUInt32LE(at);
}
