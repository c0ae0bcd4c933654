import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/shared/errors.js';
import { DecodeStatus, type FrameDecoder, type FrameSink } from '../../src/shared/frame-decoder.js';
import {
  WEBSOCKET_VIOLATION_KINDS,
  WebSocketFrameDecoder,
  WebSocketViolation,
  type WebSocketControl,
} from '../../src/shared/websocket-frame-decoder.js';
import { Opcode } from '../../src/shared/websocket-frame-encoder.js';
import { fuzzRuns } from '../helpers/fuzz-runs.js';
import { collectingSender, concatBytes, cutAt, cutEvery, describeBytes, rawFrame, seededBytes } from '../helpers/websocket-frames.js';

const utf8 = new TextEncoder();
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/**
 * Sink and control in one: every message and control call lands in `events`, in order, as
 * a short string. Answers the sink as `answers` says (then accepts), and checks that a
 * refused message is exactly the one offered next. `sizes[k]` is the stream bytes the k-th
 * expected event stands for, so `accounted` is what the decoder must no longer hold.
 */
class Log implements FrameSink, WebSocketControl {
  readonly events: string[] = [];
  readonly views: { bytes: Uint8Array; start: number; length: number }[] = [];
  accounted = 0;
  mismatches = 0;
  private next = 0;
  private refused: string | null = null;

  constructor(
    private readonly answers: readonly boolean[] = [],
    private readonly sizes: readonly number[] = [],
  ) {}

  onDatagram(bytes: Uint8Array, start: number, length: number): boolean {
    const described = `message:${describeBytes(bytes.subarray(start, start + length))}`;
    if (this.refused !== null && this.refused !== described) this.mismatches++;
    const accept = this.next < this.answers.length ? this.answers[this.next++] : true;
    if (!accept) {
      this.refused = described;
      return false;
    }
    this.refused = null;
    this.views.push({ bytes, start, length });
    this.push(described);
    return true;
  }

  ping(payload: Uint8Array): void {
    this.push(`ping:${hex(payload)}`);
  }

  pong(payload: Uint8Array): void {
    this.push(`pong:${hex(payload)}`);
  }

  close(code: number, reason: string): void {
    this.push(`close:${code}:${reason}`);
  }

  fail(closeCode: number, _why: string, violation: WebSocketViolation): void {
    this.push(`fail:${closeCode}:${violation}`);
  }

  private push(event: string): void {
    this.accounted += this.sizes[this.events.length] ?? 0;
    this.events.push(event);
  }
}

const messageEvent = (bytes: Uint8Array): string => `message:${describeBytes(bytes)}`;

function serverDecoder(log: Log, maxDatagramSize?: number): WebSocketFrameDecoder {
  return new WebSocketFrameDecoder({ role: 'server', control: log, maxDatagramSize });
}

/** A masked frame, as a client sends (the key fixed unless given). */
function masked(
  opcode: number,
  payload: ArrayLike<number>,
  extra: { fin?: boolean; rsv?: number; maskKey?: number; lengthForm?: 7 | 16 | 64 } = {},
): Uint8Array {
  return rawFrame({ opcode, payload, maskKey: 0x5a17c0de, ...extra });
}

/** Writes every chunk (copies) and resumes while paused; returns the last status. */
function feedAll(decoder: WebSocketFrameDecoder, log: Log, chunks: readonly Uint8Array[]): DecodeStatus {
  let status: DecodeStatus = DecodeStatus.NEED_MORE;
  for (const chunk of chunks) {
    status = decoder.write(chunk.slice(), log);
    while (status === DecodeStatus.PAUSED) status = decoder.resume(log);
  }
  return status;
}

describe('WebSocketFrameDecoder: construction and surface', () => {
  it('has header size 0, a 1 MiB default limit, and nothing held', () => {
    const decoder = serverDecoder(new Log());
    expect(decoder.headerSize).toBe(0);
    expect(decoder.maxDatagramSize).toBe(1024 * 1024);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.paused).toBe(false);
    expect(decoder.oversizedLength).toBe(-1);
    expect(decoder.violation).toBe(-1);
    expect(decoder.closeReceived).toBe(false);
    expect(decoder.pendingFramingChanges).toBe(0);
    expect(WEBSOCKET_VIOLATION_KINDS).toBe(Object.keys(WebSocketViolation).length);
  });

  it('offers the surface of FrameDecoder that the inbound writer and the connection lifecycle use', () => {
    type Surface = Pick<
      FrameDecoder,
      | 'write'
      | 'resume'
      | 'reset'
      | 'setFraming'
      | 'headerSize'
      | 'maxDatagramSize'
      | 'bufferedBytes'
      | 'paused'
      | 'pendingFramingChanges'
      | 'scratchCapacity'
      | 'oversizedLength'
    >;
    // Checked by the compiler: a WebSocketFrameDecoder can stand where a FrameDecoder is driven.
    const decoder: Surface = serverDecoder(new Log());
    decoder.setFraming({ headerSize: 2, maxDatagramSize: 10 });
    expect(decoder.headerSize).toBe(0);
    expect(decoder.maxDatagramSize).toBe(10);
  });

  it('rejects invalid options with coded errors', () => {
    const control = new Log();
    const make = (options: unknown) => () => new WebSocketFrameDecoder(options as never);
    expect(make({ role: 'peer', control })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_VALUE }));
    expect(make({ role: 'server' })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_TYPE }));
    expect(make({ role: 'server', control: { ping() {} } })).toThrow(TypeError);
    expect(make(null)).toThrow(TypeError);
    for (const max of [0, -1, 1.5, NaN, '10']) {
      expect(make({ role: 'client', control, maxDatagramSize: max })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_VALUE }));
    }
  });
});

describe('WebSocketFrameDecoder: the examples of RFC 6455 §5.7', () => {
  it('reads a single-frame unmasked text message as a client', () => {
    const log = new Log();
    const decoder = new WebSocketFrameDecoder({ role: 'client', control: log });
    expect(decoder.write(Uint8Array.from([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]), log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([messageEvent(utf8.encode('Hello'))]);
  });

  it('reads a single-frame masked text message as a server', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    decoder.write(Uint8Array.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]), log);
    expect(log.events).toEqual([messageEvent(utf8.encode('Hello'))]);
  });

  it('assembles a fragmented unmasked text message, a ping and a 64 KiB binary frame', () => {
    const log = new Log();
    const decoder = new WebSocketFrameDecoder({ role: 'client', control: log });
    const stream = concatBytes([
      Uint8Array.from([0x01, 0x03, 0x48, 0x65, 0x6c]),
      Uint8Array.from([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
      Uint8Array.from([0x80, 0x02, 0x6c, 0x6f]),
      Uint8Array.from([0x82, 0x7e, 0x01, 0x00]),
      new Uint8Array(256).fill(7),
      Uint8Array.from([0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
      new Uint8Array(65536).fill(9),
    ]);
    expect(decoder.write(stream, log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([
      `ping:${hex(utf8.encode('Hello'))}`,
      messageEvent(utf8.encode('Hello')),
      messageEvent(new Uint8Array(256).fill(7)),
      messageEvent(new Uint8Array(65536).fill(9)),
    ]);
  });

  it('reads a masked pong as a server', () => {
    const log = new Log();
    serverDecoder(log).write(Uint8Array.from([0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]), log);
    expect(log.events).toEqual([`pong:${hex(utf8.encode('Hello'))}`]);
  });
});

describe('WebSocketFrameDecoder: zero copy', () => {
  it('lends one-frame messages wholly inside a chunk as views of it, unmasked in place', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    const a = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const b = Uint8Array.from([1, 2, 3]);
    const chunk = concatBytes([masked(Opcode.BINARY, a), masked(Opcode.BINARY, b, { maskKey: 0xffffffff })]);
    decoder.write(chunk, log);
    expect(log.views.map((v) => v.bytes === chunk)).toEqual([true, true]);
    expect(log.views.map((v) => [v.start, v.length])).toEqual([
      [8, 300],
      [308 + 6, 3],
    ]);
    expect([...chunk.subarray(314, 317)]).toEqual([1, 2, 3]);
    expect(decoder.scratchCapacity).toBe(0);
  });

  it('still lends a view when only the header was split across chunks', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    const frame = masked(Opcode.BINARY, new Uint8Array(200).fill(5));
    const first = frame.slice(0, 3);
    const second = frame.slice(3);
    decoder.write(first, log);
    expect(decoder.bufferedBytes).toBe(3);
    decoder.write(second, log);
    expect(log.views[0].bytes).toBe(second);
    expect(log.views[0].start).toBe(8 - 3);
    expect(decoder.scratchCapacity).toBe(0);
  });

  it('assembles a payload split across chunks, or fragments, in its scratch', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    const frame = masked(Opcode.BINARY, new Uint8Array(200).fill(5));
    decoder.write(frame.slice(0, 100), log);
    expect(decoder.bufferedBytes).toBe(100);
    decoder.write(frame.slice(100), log);
    decoder.write(concatBytes([masked(Opcode.TEXT, [0x61], { fin: false }), masked(Opcode.CONTINUATION, [0x62])]), log);
    expect(log.events).toEqual([messageEvent(new Uint8Array(200).fill(5)), messageEvent(utf8.encode('ab'))]);
    expect(log.views.map((v) => v.bytes.length >= 200 && v.start === 0)).toEqual([true, true]);
    expect(decoder.scratchCapacity).toBeGreaterThanOrEqual(200);
  });

  it('lets go of a scratch grown past 1 MiB once its message is delivered', () => {
    const log = new Log();
    const decoder = serverDecoder(log, 3 * 1024 * 1024);
    const big = seededBytes(2 * 1024 * 1024, 7);
    const frame = masked(Opcode.BINARY, big);
    feedAll(decoder, log, cutEvery(frame, [1 << 20]));
    expect(log.events).toEqual([messageEvent(big)]);
    expect(decoder.scratchCapacity).toBe(0);
  });
});

describe('WebSocketFrameDecoder: protocol violations', () => {
  const cases: { name: string; role?: 'client'; stream: Uint8Array; code: number; violation: WebSocketViolation }[] = [
    {
      name: 'an unmasked frame to a server',
      stream: rawFrame({ opcode: Opcode.BINARY, payload: [1] }),
      code: 1002,
      violation: WebSocketViolation.UNMASKED_FRAME,
    },
    {
      name: 'a masked frame to a client',
      role: 'client',
      stream: masked(Opcode.BINARY, [1]),
      code: 1002,
      violation: WebSocketViolation.MASKED_FRAME,
    },
    { name: 'RSV1', stream: masked(Opcode.BINARY, [1], { rsv: 4 }), code: 1002, violation: WebSocketViolation.RESERVED_BITS },
    { name: 'RSV2', stream: masked(Opcode.TEXT, [1], { rsv: 2 }), code: 1002, violation: WebSocketViolation.RESERVED_BITS },
    { name: 'RSV3 on a ping', stream: masked(Opcode.PING, [1], { rsv: 1 }), code: 1002, violation: WebSocketViolation.RESERVED_BITS },
    ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode) => ({
      name: `opcode ${opcode}`,
      stream: masked(opcode, [1]),
      code: 1002,
      violation: WebSocketViolation.UNKNOWN_OPCODE,
    })),
    { name: 'a ping of 126 bytes', stream: masked(Opcode.PING, new Uint8Array(126)), code: 1002, violation: WebSocketViolation.CONTROL_TOO_LONG },
    {
      name: 'a pong announcing 5 bytes with a 16-bit length',
      stream: masked(Opcode.PONG, new Uint8Array(5), { lengthForm: 16 }),
      code: 1002,
      violation: WebSocketViolation.CONTROL_TOO_LONG,
    },
    { name: 'a ping without FIN', stream: masked(Opcode.PING, [1], { fin: false }), code: 1002, violation: WebSocketViolation.FRAGMENTED_CONTROL },
    { name: 'a close without FIN', stream: masked(Opcode.CLOSE, [], { fin: false }), code: 1002, violation: WebSocketViolation.FRAGMENTED_CONTROL },
    {
      name: 'a continuation with no message',
      stream: masked(Opcode.CONTINUATION, [1]),
      code: 1002,
      violation: WebSocketViolation.UNEXPECTED_CONTINUATION,
    },
    {
      name: 'a continuation after a finished message',
      stream: concatBytes([masked(Opcode.BINARY, [1]), masked(Opcode.CONTINUATION, [2])]),
      code: 1002,
      violation: WebSocketViolation.UNEXPECTED_CONTINUATION,
    },
    {
      name: 'a new message inside a fragmented one',
      stream: concatBytes([masked(Opcode.TEXT, [0x61], { fin: false }), masked(Opcode.BINARY, [2])]),
      code: 1002,
      violation: WebSocketViolation.INTERRUPTED_MESSAGE,
    },
    { name: 'a close of 1 byte', stream: masked(Opcode.CLOSE, [3]), code: 1002, violation: WebSocketViolation.CLOSE_PAYLOAD_ONE_BYTE },
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((closeCode) => ({
      name: `close code ${closeCode}`,
      stream: masked(Opcode.CLOSE, [closeCode >> 8, closeCode & 0xff]),
      code: 1002,
      violation: WebSocketViolation.INVALID_CLOSE_CODE,
    })),
    {
      name: 'a close reason not UTF-8',
      stream: masked(Opcode.CLOSE, [0x03, 0xe8, 0xc3, 0x28]),
      code: 1007,
      violation: WebSocketViolation.CLOSE_REASON_NOT_UTF8,
    },
    { name: 'a text message not UTF-8', stream: masked(Opcode.TEXT, [0x61, 0xff]), code: 1007, violation: WebSocketViolation.TEXT_NOT_UTF8 },
    {
      name: 'a fragmented text message not UTF-8',
      stream: concatBytes([masked(Opcode.TEXT, [0xe2, 0x82], { fin: false }), masked(Opcode.CONTINUATION, [0x61])]),
      code: 1007,
      violation: WebSocketViolation.TEXT_NOT_UTF8,
    },
    {
      name: 'an encoded surrogate in text',
      stream: masked(Opcode.TEXT, [0xed, 0xa0, 0x80]),
      code: 1007,
      violation: WebSocketViolation.TEXT_NOT_UTF8,
    },
    {
      name: 'a 64-bit length with its top bit set',
      stream: Uint8Array.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]),
      code: 1002,
      violation: WebSocketViolation.LENGTH_HIGH_BIT,
    },
  ];

  it.each(cases)('$name: fail($code), FAILED now and after, nothing held, usable after reset()', ({ role, stream, code, violation }) => {
    for (const chunks of [[stream], cutEvery(stream, [1])]) {
      const log = new Log();
      const decoder = new WebSocketFrameDecoder({ role: role ?? 'server', control: log });
      const before = log.events.length;
      let status: DecodeStatus = DecodeStatus.NEED_MORE;
      for (const chunk of chunks) status = decoder.write(chunk.slice(), log);
      expect(status).toBe(DecodeStatus.FAILED);
      expect(log.events.slice(before).filter((e) => e.startsWith('fail'))).toEqual([`fail:${code}:${violation}`]);
      expect(decoder.violation).toBe(violation);
      expect(decoder.bufferedBytes).toBe(0);
      const good = role === 'client' ? rawFrame({ opcode: Opcode.BINARY, payload: [9] }) : masked(Opcode.BINARY, [9]);
      expect(decoder.write(good, log)).toBe(DecodeStatus.FAILED);
      expect(decoder.resume(log)).toBe(DecodeStatus.FAILED);
      expect(log.events.filter((e) => e.startsWith('fail'))).toHaveLength(1);
      decoder.reset();
      expect(decoder.violation).toBe(-1);
      expect(decoder.write(good, log)).toBe(DecodeStatus.NEED_MORE);
      expect(log.events.at(-1)).toBe(messageEvent(Uint8Array.of(9)));
    }
  });

  it('delivers what came before a violation in the same chunk', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    const status = decoder.write(concatBytes([masked(Opcode.BINARY, [1]), masked(Opcode.PING, [2]), masked(5, [])]), log);
    expect(status).toBe(DecodeStatus.FAILED);
    expect(log.events).toEqual([messageEvent(Uint8Array.of(1)), 'ping:02', `fail:1002:${WebSocketViolation.UNKNOWN_OPCODE}`]);
  });

  it('accepts text whose multi-byte characters straddle fragments and chunks', () => {
    const text = utf8.encode('€😀é');
    const stream = concatBytes([
      masked(Opcode.TEXT, text.subarray(0, 2), { fin: false }),
      masked(Opcode.CONTINUATION, text.subarray(2, 5), { fin: false }),
      masked(Opcode.CONTINUATION, text.subarray(5)),
    ]);
    for (const sizes of [[stream.length], [1], [3, 7]]) {
      const log = new Log();
      expect(feedAll(serverDecoder(log), log, cutEvery(stream, sizes))).toBe(DecodeStatus.NEED_MORE);
      expect(log.events).toEqual([messageEvent(text)]);
    }
  });

  it('accepts a non-minimal length encoding, as ws does (the RFC binds senders to the shortest)', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    decoder.write(concatBytes([masked(Opcode.BINARY, [1, 2], { lengthForm: 16 }), masked(Opcode.BINARY, [3], { lengthForm: 64 })]), log);
    expect(log.events).toEqual([messageEvent(Uint8Array.of(1, 2)), messageEvent(Uint8Array.of(3))]);
  });
});

describe('WebSocketFrameDecoder: close', () => {
  it('reports a close without payload as 1005, and with one as its code and reason', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    expect(decoder.write(masked(Opcode.CLOSE, []), log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual(['close:1005:']);
    decoder.reset();
    decoder.write(masked(Opcode.CLOSE, [0x0f, 0xa0, ...utf8.encode('bye ✓')]), log);
    expect(log.events.at(-1)).toBe('close:4000:bye ✓');
    for (const code of [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999]) {
      decoder.reset();
      decoder.write(masked(Opcode.CLOSE, [code >> 8, code & 0xff]), log);
      expect(log.events.at(-1)).toBe(`close:${code}:`);
    }
  });

  it('delivers nothing after the close frame, in its chunk or later, until reset()', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    const stream = concatBytes([
      masked(Opcode.TEXT, [0x61], { fin: false }),
      masked(Opcode.CLOSE, [0x03, 0xe8]),
      masked(Opcode.CONTINUATION, [0x62]),
      masked(Opcode.BINARY, [1]),
    ]);
    expect(decoder.write(stream, log)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.closeReceived).toBe(true);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.write(masked(Opcode.BINARY, [2]), log)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.write(Uint8Array.of(0xff, 0xff), log)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.resume(log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual(['close:1000:']);
    decoder.reset();
    expect(decoder.closeReceived).toBe(false);
    decoder.write(masked(Opcode.BINARY, [3]), log);
    expect(log.events).toEqual(['close:1000:', messageEvent(Uint8Array.of(3))]);
  });

  it('survives a control callback that resets it: the rest of the chunk is dropped', () => {
    const events: string[] = [];
    let decoder: WebSocketFrameDecoder;
    const sink: FrameSink = {
      onDatagram(bytes, start, length) {
        events.push(`message:${hex(bytes.subarray(start, start + length))}`);
        return true;
      },
    };
    const control: WebSocketControl = {
      ping: () => {
        events.push('ping');
        decoder.reset();
      },
      pong: () => {},
      close: () => {
        events.push('close');
        decoder.reset();
      },
      fail: () => {
        events.push('fail');
        decoder.reset();
      },
    };
    decoder = new WebSocketFrameDecoder({ role: 'server', control });
    expect(decoder.write(concatBytes([masked(Opcode.BINARY, [1]), masked(Opcode.PING, []), masked(Opcode.BINARY, [2])]), sink)).toBe(
      DecodeStatus.NEED_MORE,
    );
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.write(concatBytes([masked(Opcode.CLOSE, []), masked(Opcode.BINARY, [3])]), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.closeReceived).toBe(false);
    expect(decoder.write(concatBytes([masked(7, []), masked(Opcode.BINARY, [4])]), sink)).toBe(DecodeStatus.FAILED);
    expect(decoder.write(masked(Opcode.BINARY, [5]), sink)).toBe(DecodeStatus.NEED_MORE);
    expect(events).toEqual(['message:01', 'ping', 'close', 'fail', 'message:05']);
  });
});

describe('WebSocketFrameDecoder: maxDatagramSize', () => {
  it('reports OVERSIZED from a header alone, holding nothing', () => {
    for (const [announced, form] of [
      [101, 7],
      [101, 16],
      [2 ** 40, 64],
      [0x7fffffff * 2 ** 32, 64],
    ] as const) {
      const log = new Log();
      const decoder = serverDecoder(log, 100);
      const header = masked(Opcode.BINARY, [], { lengthForm: form }).slice(0, form === 7 ? 6 : form === 16 ? 8 : 14);
      header[1] = (header[1] & 0x80) | (form === 7 ? announced : form === 16 ? 126 : 127);
      if (form === 16) header.set([announced >> 8, announced & 0xff], 2);
      if (form === 64) {
        const hi = Math.floor(announced / 2 ** 32);
        const lo = announced % 2 ** 32;
        header.set([hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff], 2);
      }
      expect(decoder.write(header, log)).toBe(DecodeStatus.OVERSIZED);
      expect(decoder.bufferedBytes).toBe(0);
      expect(decoder.scratchCapacity).toBe(0);
      expect(decoder.oversizedLength).toBe(announced);
      expect(log.events).toEqual([]);
      expect(decoder.write(masked(Opcode.BINARY, [1]), log)).toBe(DecodeStatus.OVERSIZED);
      expect(decoder.resume(log)).toBe(DecodeStatus.OVERSIZED);
      decoder.reset();
      expect(decoder.oversizedLength).toBe(-1);
      expect(decoder.write(masked(Opcode.BINARY, [1]), log)).toBe(DecodeStatus.NEED_MORE);
      expect(log.events).toEqual([messageEvent(Uint8Array.of(1))]);
    }
  });

  it('accepts a message of exactly the limit, one frame or many', () => {
    const log = new Log();
    const decoder = serverDecoder(log, 100);
    const payload = seededBytes(100, 3);
    const stream = concatBytes([
      masked(Opcode.BINARY, payload),
      masked(Opcode.BINARY, payload.subarray(0, 60), { fin: false }),
      masked(Opcode.CONTINUATION, payload.subarray(60)),
    ]);
    expect(decoder.write(stream, log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([messageEvent(payload), messageEvent(payload)]);
  });

  it('counts fragments together: the header that takes a message past the limit is OVERSIZED', () => {
    const log = new Log();
    const decoder = serverDecoder(log, 100);
    const first = masked(Opcode.BINARY, new Uint8Array(100), { fin: false });
    const second = masked(Opcode.CONTINUATION, new Uint8Array(1));
    expect(decoder.write(first, log)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.bufferedBytes).toBe(first.length);
    expect(decoder.write(second.slice(0, 6), log)).toBe(DecodeStatus.OVERSIZED);
    expect(decoder.oversizedLength).toBe(101);
    expect(decoder.bufferedBytes).toBe(0);
    expect(log.events).toEqual([]);
  });

  it('does not count control frames against the limit', () => {
    const log = new Log();
    const decoder = serverDecoder(log, 1);
    expect(decoder.write(concatBytes([masked(Opcode.PING, new Uint8Array(125)), masked(Opcode.BINARY, [7])]), log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([`ping:${'00'.repeat(125)}`, messageEvent(Uint8Array.of(7))]);
  });

  it('setFraming changes the limit at the first message boundary after the bytes written so far', () => {
    const log = new Log([false]);
    const decoder = serverDecoder(log, 100);
    const big = new Uint8Array(80);
    // Refused and held: the bytes written before the change keep the old limit.
    const first = concatBytes([masked(Opcode.BINARY, big), masked(Opcode.BINARY, big, { fin: false })]);
    expect(decoder.write(first, log)).toBe(DecodeStatus.PAUSED);
    decoder.setFraming({ headerSize: 4, maxDatagramSize: 50 });
    expect(decoder.pendingFramingChanges).toBe(1);
    expect(decoder.maxDatagramSize).toBe(100);
    expect(decoder.headerSize).toBe(0);
    expect(decoder.write(masked(Opcode.CONTINUATION, new Uint8Array(10)), log)).toBe(DecodeStatus.PAUSED);
    expect(decoder.resume(log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([messageEvent(big), messageEvent(new Uint8Array(90))]);
    // The message that straddled the change kept the old limit; the next one has the new.
    expect(decoder.write(masked(Opcode.BINARY, new Uint8Array(51)), log)).toBe(DecodeStatus.OVERSIZED);
    expect(decoder.maxDatagramSize).toBe(50);
    expect(decoder.pendingFramingChanges).toBe(0);
  });

  it('setFraming applies at once when nothing is part-way, and validates the limit', () => {
    const log = new Log();
    const decoder = serverDecoder(log);
    decoder.setFraming({ maxDatagramSize: 10 });
    expect(decoder.maxDatagramSize).toBe(10);
    decoder.setFraming({ headerSize: 2 });
    expect(decoder.maxDatagramSize).toBe(1024 * 1024);
    expect(() => decoder.setFraming({ maxDatagramSize: 0 })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARG_VALUE }));
    decoder.write(masked(Opcode.BINARY, [1, 2, 3]).slice(0, 3), log);
    decoder.setFraming({ maxDatagramSize: 2 });
    expect(decoder.pendingFramingChanges).toBe(1);
    decoder.reset();
    expect(decoder.maxDatagramSize).toBe(2);
    expect(decoder.pendingFramingChanges).toBe(0);
  });
});

describe('WebSocketFrameDecoder: back-pressure', () => {
  it('offers a refused view again on resume, and counts it as held until taken', () => {
    const log = new Log([false, false]);
    const decoder = serverDecoder(log);
    const chunk = concatBytes([masked(Opcode.BINARY, [1, 2]), masked(Opcode.BINARY, [])]);
    expect(decoder.write(chunk, log)).toBe(DecodeStatus.PAUSED);
    expect(decoder.paused).toBe(true);
    expect(decoder.bufferedBytes).toBe(chunk.length);
    const later = masked(Opcode.PING, [9]);
    expect(decoder.write(later, log)).toBe(DecodeStatus.PAUSED);
    expect(decoder.bufferedBytes).toBe(chunk.length + later.length);
    expect(decoder.resume(log)).toBe(DecodeStatus.PAUSED);
    expect(decoder.bufferedBytes).toBe(chunk.length + later.length);
    expect(decoder.resume(log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.mismatches).toBe(0);
    expect(log.events).toEqual([messageEvent(Uint8Array.of(1, 2)), messageEvent(new Uint8Array(0)), 'ping:09']);
    expect(log.views[0].bytes).toBe(chunk);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('holds a refused empty message as at least its header, so the caller resumes it', () => {
    const log = new Log([false]);
    const decoder = serverDecoder(log);
    const frame = masked(Opcode.BINARY, []);
    expect(decoder.write(frame, log)).toBe(DecodeStatus.PAUSED);
    expect(decoder.bufferedBytes).toBe(frame.length);
    expect(decoder.resume(log)).toBe(DecodeStatus.NEED_MORE);
    expect(decoder.resume(log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([messageEvent(new Uint8Array(0))]);
  });

  it('offers a refused assembled message again, and answers a later ping only after it', () => {
    const log = new Log([false]);
    const decoder = serverDecoder(log);
    const stream = concatBytes([masked(Opcode.BINARY, [1], { fin: false }), masked(Opcode.CONTINUATION, [2]), masked(Opcode.PING, [3])]);
    expect(decoder.write(stream, log)).toBe(DecodeStatus.PAUSED);
    expect(log.events).toEqual([]);
    expect(decoder.bufferedBytes).toBe(stream.length);
    expect(decoder.resume(log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([messageEvent(Uint8Array.of(1, 2)), 'ping:03']);
  });

  it('reset() drops a pause and its queue', () => {
    const log = new Log([false]);
    const decoder = serverDecoder(log);
    decoder.write(masked(Opcode.BINARY, [1]), log);
    decoder.write(masked(Opcode.BINARY, [2]), log);
    decoder.reset();
    expect(decoder.paused).toBe(false);
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.resume(log)).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([]);
  });
});

// ── Properties ──────────────────────────────────────────────────────────────────────

interface PlannedControl {
  pong: boolean;
  payload: Uint8Array;
  key: number;
}

interface PlannedMessage {
  payload: Uint8Array;
  text: boolean;
  /** Where the payload is cut into fragments (fractions). */
  cuts: number[];
  /** Masking key of each fragment, cycling. */
  keys: number[];
  /** A control frame before fragment j (cycling), or none. */
  controls: (PlannedControl | null)[];
}

const keyArb = fc.integer({ min: 0, max: 0xffffffff });

const controlArb: fc.Arbitrary<PlannedControl> = fc.record({ pong: fc.boolean(), payload: fc.uint8Array({ maxLength: 125 }), key: keyArb });

const binaryArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 126, maxLength: 2000 }) },
  { weight: 1, arbitrary: fc.record({ n: fc.integer({ min: 0, max: 70000 }), seed: fc.integer() }).map(({ n, seed }) => seededBytes(n, seed)) },
);

const textArb = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }).map((s) => utf8.encode(s)) },
  {
    weight: 1,
    arbitrary: fc
      .record({ unit: fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), n: fc.integer({ min: 0, max: 70000 }) })
      .map(({ unit, n }) => {
        const bytes = utf8.encode(unit);
        return utf8.encode(unit.repeat(Math.max(1, Math.floor(n / bytes.length))));
      }),
  },
);

const messageArb: fc.Arbitrary<PlannedMessage> = fc
  .record({
    text: fc.boolean(),
    binary: binaryArb,
    textBytes: textArb,
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
    keys: fc.array(keyArb, { minLength: 1, maxLength: 4 }),
    controls: fc.array(fc.option(controlArb, { nil: null, freq: 2 }), { maxLength: 4 }),
  })
  .map(({ text, binary, textBytes, cuts, keys, controls }) => ({ text, payload: text ? textBytes : binary, cuts, keys, controls }));

interface Plan {
  stream: Uint8Array;
  events: string[];
  sizes: number[];
}

/** The byte stream for `messages` (masked for a server to read) and the events it must give. */
function plan(messages: readonly PlannedMessage[], toServer: boolean, close: { code: number; reason: string } | null, trailing: Uint8Array): Plan {
  const parts: Uint8Array[] = [];
  const events: string[] = [];
  const sizes: number[] = [];
  for (const m of messages) {
    const points = m.cuts.map((c) => Math.floor(c * m.payload.length)).sort((a, b) => a - b);
    const fragments: Uint8Array[] = [];
    let from = 0;
    for (const p of [...points, m.payload.length]) {
      fragments.push(m.payload.subarray(from, p));
      from = p;
    }
    let messageBytes = 0;
    fragments.forEach((fragment, j) => {
      const control = m.controls.length === 0 ? null : m.controls[j % m.controls.length];
      if (control !== null) {
        const frame = rawFrame({
          opcode: control.pong ? Opcode.PONG : Opcode.PING,
          payload: control.payload,
          maskKey: toServer ? control.key : null,
        });
        parts.push(frame);
        events.push(`${control.pong ? 'pong' : 'ping'}:${hex(control.payload)}`);
        sizes.push(frame.length);
      }
      const opcode = j === 0 ? (m.text ? Opcode.TEXT : Opcode.BINARY) : Opcode.CONTINUATION;
      const frame = rawFrame({ opcode, fin: j === fragments.length - 1, payload: fragment, maskKey: toServer ? m.keys[j % m.keys.length] : null });
      parts.push(frame);
      messageBytes += frame.length;
    });
    events.push(messageEvent(m.payload));
    sizes.push(messageBytes);
  }
  if (close !== null) {
    const frame = rawFrame({
      opcode: Opcode.CLOSE,
      payload: [close.code >> 8, close.code & 0xff, ...utf8.encode(close.reason)],
      maskKey: toServer ? 0x01020304 : null,
    });
    parts.push(frame, trailing);
    events.push(`close:${close.code}:${close.reason}`);
    sizes.push(frame.length);
  }
  return { stream: concatBytes(parts), events, sizes };
}

type Cut = { kind: 'fractions'; at: number[] } | { kind: 'sizes'; sizes: number[] };

const cutArb: fc.Arbitrary<Cut> = fc.oneof(
  fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }).map((at): Cut => ({ kind: 'fractions', at })),
  fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }).map((sizes): Cut => ({ kind: 'sizes', sizes })),
);

function cut(stream: Uint8Array, how: Cut): Uint8Array[] {
  return how.kind === 'fractions' ? cutAt(stream, how.at) : cutEvery(stream, how.sizes);
}

const closeArb = fc.option(
  fc.record({
    code: fc.constantFrom(1000, 1001, 1008, 1011, 3000, 4999),
    reason: fc.string({ maxLength: 30 }).filter((s) => utf8.encode(s).length <= 123 && !/[\ud800-\udfff]/.test(s)),
  }),
  { nil: null, freq: 3 },
);

describe('WebSocketFrameDecoder: properties', () => {
  it.each([
    ['server', true],
    ['client', false],
  ] as const)(
    'as a %s: exactly the messages and control frames, in order, whatever the fragmentation, masking, chunking and refusals',
    (role, toServer) => {
      fc.assert(
        fc.property(
          fc.array(messageArb, { maxLength: 8 }),
          closeArb,
          fc.uint8Array({ maxLength: 20 }),
          cutArb,
          fc.array(fc.boolean(), { maxLength: 40 }),
          fc.array(fc.boolean(), { maxLength: 20 }),
          (messages, close, trailing, how, answers, resumeAtOnce) => {
            const { stream, events, sizes } = plan(messages, toServer, close, trailing);
            const log = new Log(answers, sizes);
            const decoder = new WebSocketFrameDecoder({ role, control: log, maxDatagramSize: 80000 });
            let written = 0;
            let r = 0;
            const check = (): void => {
              if (!decoder.closeReceived) expect(decoder.bufferedBytes).toBe(written - log.accounted);
              else expect(decoder.bufferedBytes).toBe(0);
            };
            for (const chunk of cut(stream, how)) {
              written += chunk.length;
              let status = decoder.write(chunk, log);
              check();
              // Sometimes resume at once, sometimes write on while paused (the chunk is queued).
              while (status === DecodeStatus.PAUSED && (resumeAtOnce.length === 0 || resumeAtOnce[r++ % resumeAtOnce.length])) {
                status = decoder.resume(log);
                check();
              }
              expect([DecodeStatus.NEED_MORE, DecodeStatus.PAUSED]).toContain(status);
            }
            while (decoder.paused) {
              decoder.resume(log);
              check();
            }
            expect(log.events).toEqual(events);
            expect(log.mismatches).toBe(0);
            expect(decoder.bufferedBytes).toBe(0);
          },
        ),
        { numRuns: fuzzRuns(150) },
      );
    },
  );

  it('never throws on arbitrary bytes, and stops at the first violation or oversize', () => {
    fc.assert(
      fc.property(fc.constantFrom<'server' | 'client'>('server', 'client'), fc.uint8Array({ maxLength: 2000 }), cutArb, (role, garbage, how) => {
        const log = new Log();
        const decoder = new WebSocketFrameDecoder({ role, control: log, maxDatagramSize: 1000 });
        let status: DecodeStatus = DecodeStatus.NEED_MORE;
        for (const chunk of cut(garbage, how)) {
          status = decoder.write(chunk, log);
          if (status === DecodeStatus.FAILED || status === DecodeStatus.OVERSIZED) break;
        }
        const ends = log.events.filter((e) => e.startsWith('fail') || e.startsWith('close'));
        expect(ends.length).toBeLessThanOrEqual(1);
        if (status === DecodeStatus.FAILED) expect(log.events.at(-1)).toMatch(/^fail:(1002|1007):/);
        if (status === DecodeStatus.OVERSIZED) expect(decoder.oversizedLength).toBeGreaterThan(1000);
        if (status !== DecodeStatus.NEED_MORE || decoder.closeReceived) expect(decoder.bufferedBytes).toBe(0);
        else expect(decoder.bufferedBytes).toBeLessThanOrEqual(garbage.length);
      }),
      { numRuns: fuzzRuns(300) },
    );
  });
});

describe('WebSocketFrameDecoder reads what ws writes', () => {
  type Sent =
    | { kind: 'text'; text: string; pieces: number }
    | { kind: 'binary'; bytes: Uint8Array; pieces: number }
    | { kind: 'control'; pong: boolean; bytes: Uint8Array };

  const sentArb: fc.Arbitrary<Sent> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('text' as const),
        text: fc.string({ unit: 'binary', maxLength: 300 }),
        pieces: fc.integer({ min: 1, max: 3 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('binary' as const),
        bytes: fc.uint8Array({ maxLength: 500 }),
        pieces: fc.integer({ min: 1, max: 3 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ n: fc.integer({ min: 60000, max: 70000 }), seed: fc.integer(), pieces: fc.integer({ min: 1, max: 2 }) })
        .map(({ n, seed, pieces }): Sent => ({ kind: 'binary', bytes: seededBytes(n, seed), pieces })),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('control' as const), pong: fc.boolean(), bytes: fc.uint8Array({ maxLength: 125 }) }) },
  );

  it("a server reads ws's masked client frames: messages (fragmented too), pings, pongs and the close", () => {
    fc.assert(
      fc.property(fc.array(sentArb, { maxLength: 10 }), cutArb, fc.integer({ min: 3000, max: 4999 }), (sent, how, code) => {
        const out: Uint8Array[] = [];
        const sender = collectingSender(out);
        const want: string[] = [];
        for (const s of sent) {
          if (s.kind === 'control') {
            if (s.pong) sender.pong(Buffer.from(s.bytes), true);
            else sender.ping(Buffer.from(s.bytes), true);
            want.push(`${s.pong ? 'pong' : 'ping'}:${hex(s.bytes)}`);
            continue;
          }
          const bytes = s.kind === 'text' ? utf8.encode(s.text) : s.bytes;
          const step = Math.ceil(bytes.length / s.pieces);
          for (let k = 0; k < s.pieces; k++) {
            const piece = Buffer.from(bytes.subarray(k * step, (k + 1) * step));
            sender.send(piece, { binary: s.kind === 'binary', fin: k === s.pieces - 1, mask: true, compress: false });
          }
          want.push(messageEvent(bytes));
        }
        sender.close(code, 'done', true);
        want.push(`close:${code}:done`);

        const log = new Log();
        const decoder = serverDecoder(log, 80000);
        for (const chunk of cut(concatBytes(out), how)) expect(decoder.write(chunk, log)).toBe(DecodeStatus.NEED_MORE);
        expect(log.events).toEqual(want);
      }),
      { numRuns: fuzzRuns(80) },
    );
  });

  it("a client reads ws's unmasked server frames", () => {
    const out: Uint8Array[] = [];
    const sender = collectingSender(out);
    sender.send(Buffer.from('héllo'), { binary: false, fin: true, mask: false, compress: false });
    sender.send(Buffer.from(seededBytes(70000, 1)), { binary: true, fin: true, mask: false, compress: false });
    sender.ping(Buffer.from([1, 2]), false);
    sender.close(1001, 'going away', false);
    const log = new Log();
    const decoder = new WebSocketFrameDecoder({ role: 'client', control: log });
    expect(feedAll(decoder, log, cutEvery(concatBytes(out), [1000]))).toBe(DecodeStatus.NEED_MORE);
    expect(log.events).toEqual([messageEvent(utf8.encode('héllo')), messageEvent(seededBytes(70000, 1)), 'ping:0102', 'close:1001:going away']);
  });
});
