// WebSocket frames for tests, built by hand from RFC 6455 §5.2 (not with the encoder under
// test), plus typed access to ws's Sender and Receiver, which @types/ws does not declare.
import { createHash } from 'node:crypto';
import * as ws from 'ws';

export interface RawFrame {
  opcode: number;
  payload: ArrayLike<number>;
  /** Default true. */
  fin?: boolean;
  /** RSV1-3 as a 3-bit number (4 = RSV1). Default 0. */
  rsv?: number;
  /** A u32 key masks the frame; undefined or null leaves it unmasked. */
  maskKey?: number | null;
  /** The length encoding; default the shortest (what the RFC requires of senders). */
  lengthForm?: 7 | 16 | 64;
}

/** One frame's bytes exactly as described (any rule may be broken on purpose). */
export function rawFrame(frame: RawFrame): Uint8Array {
  const payload = Uint8Array.from(frame.payload);
  const n = payload.length;
  const form = frame.lengthForm ?? (n <= 125 ? 7 : n <= 0xffff ? 16 : 64);
  const masked = frame.maskKey !== undefined && frame.maskKey !== null;
  const head: number[] = [((frame.fin ?? true) ? 0x80 : 0) | ((frame.rsv ?? 0) << 4) | frame.opcode];
  const maskBit = masked ? 0x80 : 0;
  if (form === 7) head.push(maskBit | n);
  else if (form === 16) head.push(maskBit | 126, n >>> 8, n & 0xff);
  else {
    head.push(maskBit | 127);
    for (const word of [Math.floor(n / 2 ** 32), n >>> 0]) head.push(word >>> 24, (word >>> 16) & 0xff, (word >>> 8) & 0xff, word & 0xff);
  }
  if (masked) {
    const k = frame.maskKey as number;
    const key = [k >>> 24, (k >>> 16) & 0xff, (k >>> 8) & 0xff, k & 0xff];
    head.push(...key);
    for (let i = 0; i < n; i++) payload[i] ^= key[i & 3];
  }
  return concatBytes([Uint8Array.from(head), payload]);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Cuts `bytes` into copies (as socket reads are) at the given fractions; empty chunks included. */
export function cutAt(bytes: Uint8Array, fractions: readonly number[]): Uint8Array[] {
  const points = fractions.map((f) => Math.floor(f * bytes.length)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.slice(from, p));
    from = p;
  }
  chunks.push(bytes.slice(from));
  return chunks;
}

/** Cuts `bytes` into copies whose sizes cycle through `sizes`. */
export function cutEvery(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const size = sizes[k % sizes.length];
    chunks.push(bytes.slice(i, i + size));
    i += size;
  }
  return chunks;
}

/** A short name for a message's bytes that tells messages apart (length and SHA-1). */
export function describeBytes(bytes: Uint8Array): string {
  return `${bytes.length}:${createHash('sha1').update(bytes).digest('hex').slice(0, 16)}`;
}

/** `length` pseudo-random bytes from `seed` (xorshift32): large payloads without a large arbitrary. */
export function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** ws's Receiver: a Writable that parses frames and emits 'message', 'ping', 'pong', 'conclude', 'error'. */
export interface WsReceiver {
  write(chunk: Uint8Array): boolean;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  on(event: 'conclude', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (error: Error & { code?: string; [key: symbol]: unknown }) => void): this;
}

/** The socket a ws Sender writes to. */
export interface WsSocket {
  cork(): void;
  uncork(): void;
  write(data: Buffer, cb?: () => void): boolean;
}

/** ws's Sender. */
export interface WsSender {
  send(data: Buffer, options: { binary: boolean; fin: boolean; mask: boolean; compress: boolean }): void;
  ping(data: Buffer, mask: boolean): void;
  pong(data: Buffer, mask: boolean): void;
  close(code: number | undefined, reason: string | undefined, mask: boolean): void;
}

interface WsInternals {
  Receiver: new (options: { isServer: boolean; maxPayload?: number }) => WsReceiver;
  Sender: new (socket: WsSocket) => WsSender;
}

export const { Receiver, Sender } = ws as unknown as WsInternals;

/** A ws Sender whose every write lands in `out`, copied. */
export function collectingSender(out: Uint8Array[]): WsSender {
  return new Sender({
    cork() {},
    uncork() {},
    write(data, cb) {
      out.push(Uint8Array.from(data));
      cb?.();
      return true;
    },
  });
}
