/**
 * The local benchmark targets: each starts as a child process, echoes what a plain client
 * sends (hand-built frames over node:net, or binary WebSocket messages from a `ws` client:
 * the ws server and ringwire's WebSocket rendezvous alike), and is gone after stop(). Runs against the compiled servers: `npm run build` first.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FrameCutter } from './servers/frame-cutter.js';
import { type LocalTargetKind, type RunningTarget, startTarget } from './targets.js';

const DEADLINE_MS = 20_000;
const started: RunningTarget[] = [];

afterEach(async () => {
  const targets = started.splice(0);
  await Promise.allSettled(targets.map((target) => target.stop()));
});

async function start(kind: LocalTargetKind, headerSize: 0 | 2 | 4): Promise<RunningTarget> {
  const target = await startTarget(kind, { headerSize });
  started.push(target);
  return target;
}

/** `count` payloads of varied sizes (1 to ~400 bytes), each starting with its index. */
function payloads(count: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(4 + ((i * 37) % 397));
    payload.writeUInt32LE(i, 0);
    for (let j = 4; j < payload.length; j++) payload[j] = (i * 31 + j * 7) & 0xff;
    out.push(payload);
  }
  return out;
}

function frame(payload: Buffer, headerSize: 2 | 4): Buffer {
  const header = Buffer.alloc(headerSize);
  if (headerSize === 2) header.writeUInt16LE(payload.length, 0);
  else header.writeUInt32LE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopAndCheck(target: RunningTarget): Promise<void> {
  await target.stop();
  expect(target.pid).not.toBeNull();
  expect(isAlive(target.pid!)).toBe(false);
}

/**
 * Sends `sent` as frames (in a few writes, so frames straddle chunks), reads echoes until
 * `expected` have arrived, then waits `settleMs` for any extra; resolves every payload received.
 */
function echoFrames(port: number, headerSize: 2 | 4, sent: Buffer[], expected: number, settleMs = 0): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`got ${received.length} of ${expected} echoes within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => {
      const bytes = Buffer.concat(sent.map((payload) => frame(payload, headerSize)));
      // Odd-sized writes: headers and payloads are split across the server's reads.
      for (let at = 0; at < bytes.length; at += 1021) socket.write(bytes.subarray(at, at + 1021));
    });
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= headerSize) {
        const length = headerSize === 2 ? pending.readUInt16LE(0) : pending.readUInt32LE(0);
        if (pending.length < headerSize + length) break;
        received.push(Buffer.from(pending.subarray(headerSize, headerSize + length)));
        pending = pending.subarray(headerSize + length);
      }
      if (received.length >= expected) {
        if (settleMs > 0) setTimeout(finish, settleMs);
        else finish();
      }
    });
  });
}

/** Raw mode: sends the bytes and resolves once as many bytes came back. */
function echoRaw(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`got ${have} of ${bytes.length} bytes back within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => {
      for (let at = 0; at < bytes.length; at += 997) socket.write(bytes.subarray(at, at + 997));
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= bytes.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
  });
}

function echoWs(port: number, sent: Buffer[]): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`got ${received.length} of ${sent.length} echoes within ${DEADLINE_MS} ms`));
    }, DEADLINE_MS);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('open', () => {
      for (const payload of sent) socket.send(payload, { binary: true });
    });
    socket.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      expect(isBinary).toBe(true);
      received.push(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
      if (received.length === sent.length) {
        clearTimeout(timer);
        socket.terminate();
        resolve(received);
      }
    });
  });
}

describe('startTarget', () => {
  const framed: LocalTargetKind[] = ['ringwire-0', 'ringwire-1', 'ringwire-2', 'plain-net', 'faulty'];

  for (const kind of framed) {
    it(`${kind} echoes 100 u16-framed datagrams exactly, then stops`, async () => {
      const target = await start(kind, 2);
      expect(target).toMatchObject({ kind, name: kind, host: '127.0.0.1', transport: 'tcp' });
      expect(target.port).toBeGreaterThan(0);
      const sent = payloads(100);
      const received = await echoFrames(target.port, 2, sent, sent.length);
      expect(received).toEqual(sent);
      await stopAndCheck(target);
    });
  }

  for (const kind of ['ws', 'ringwire-ws-0', 'ringwire-ws-2'] as const) {
    it(`${kind} echoes 100 binary messages exactly, then stops`, async () => {
      const target = await start(kind, 2);
      expect(target.transport).toBe('ws');
      const sent = payloads(100);
      // One past a 2-byte header's limit: the WebSocket servers take the harness's largest payloads.
      sent.push(Buffer.alloc(70_000, 7));
      expect(await echoWs(target.port, sent)).toEqual(sent);
      await stopAndCheck(target);
    });
  }

  for (const kind of ['plain-net', 'ringwire-2'] as const) {
    it(`${kind} echoes u32-framed datagrams (header size 4)`, async () => {
      const target = await start(kind, 4);
      const sent = payloads(100);
      expect(await echoFrames(target.port, 4, sent, sent.length)).toEqual(sent);
      await stopAndCheck(target);
    });

    it(`${kind} echoes a raw byte stream unchanged (header size 0)`, async () => {
      const target = await start(kind, 0);
      const bytes = Buffer.concat(payloads(100));
      expect((await echoRaw(target.port, bytes)).equals(bytes)).toBe(true);
      await stopAndCheck(target);
    });
  }

  it('the faulty server drops the 1000th datagram and swaps the 1500th with the 1501st', async () => {
    const target = await start('faulty', 2);
    const sent = payloads(1601);
    // 1600 of the 1601 come back; wait a little longer to be sure no 1601st follows.
    const received = await echoFrames(target.port, 2, sent, 1600, 200);
    expect(received).toHaveLength(1600);
    const indices = received.map((payload) => payload.readUInt32LE(0));
    expect(indices).not.toContain(999);
    const expected = [...Array(1601).keys()].filter((i) => i !== 999);
    expected.splice(expected.indexOf(1499), 2, 1500, 1499);
    expect(indices).toEqual(expected);
    await stopAndCheck(target);
  });

  it('a server that cannot start rejects with its stderr', async () => {
    await expect(startTarget('faulty', { headerSize: 0 })).rejects.toThrow(/exited before it was ready: code 2.*raw mode/s);
  });

  it('stop() is idempotent', async () => {
    const target = await start('plain-net', 2);
    await Promise.all([target.stop(), target.stop()]);
    await target.stop();
    expect(isAlive(target.pid!)).toBe(false);
  });
});

describe('FrameCutter (plain-net and faulty servers)', () => {
  for (const headerSize of [2, 4] as const) {
    it(`cuts u${headerSize * 8} frames split at every chunk size from 1 to 9 bytes`, () => {
      const sent = payloads(40);
      sent.push(Buffer.alloc(0));
      const stream = Buffer.concat(sent.map((payload) => frame(payload, headerSize)));
      for (let size = 1; size <= 9; size++) {
        const cutter = new FrameCutter(headerSize);
        const frames: Buffer[] = [];
        const sink = { frame: (bytes: Buffer, start: number, end: number) => frames.push(Buffer.from(bytes.subarray(start + headerSize, end))) };
        let accepted = true;
        for (let at = 0; at < stream.length; at += size) accepted = cutter.push(stream.subarray(at, at + size), sink) && accepted;
        expect(accepted).toBe(true);
        expect(frames).toEqual(sent);
      }
    });
  }

  it('refuses a u32 header announcing more than its limit', () => {
    const cutter = new FrameCutter(4);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(0xffffffff, 0);
    expect(cutter.push(header.subarray(0, 3), { frame: () => {} })).toBe(true);
    expect(cutter.push(header.subarray(3), { frame: () => {} })).toBe(false);
  });
});
