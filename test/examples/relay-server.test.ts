import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEADLINE_MS, START_DEADLINE_MS, exitOf, killPrograms, startProgram as start, type Program } from '../helpers/example-program.js';
import { pollUntil } from '../helpers/net-harness.js';

const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await killPrograms();
});

async function startRelay(args: string[]): Promise<{ relay: Program; port: number; line: string }> {
  const relay = start('relay-server.ts', ['--host', '127.0.0.1', '--port', '0', ...args]);
  const match = await relay.waitForLine(/^ringwire relay on 127\.0\.0\.1:(\d+) — (.*)$/, START_DEADLINE_MS);
  return { relay, port: Number(match[1]), line: match[0] };
}

/** A plain node:net client that collects what it receives. */
class RawClient {
  readonly socket: net.Socket;
  private readonly chunks: Buffer[] = [];
  received = 0;
  private waiter: (() => void) | null = null;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    sockets.push(this.socket);
    this.socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.received += chunk.length;
      this.waiter?.();
    });
    this.socket.on('error', () => {});
  }

  async connected(): Promise<void> {
    if (!this.socket.connecting) return;
    await once(this.socket, 'connect');
  }

  /** Everything received so far, as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Resolves once at least `count` bytes have arrived; rejects at the deadline. */
  waitForBytes(count: number, ms = DEADLINE_MS): Promise<void> {
    return this.waitUntil(() => this.received >= count, ms, () => `received ${this.received} of ${count} bytes`);
  }

  /** Resolves once `done()` holds, checked on every arrival; rejects at the deadline. */
  waitUntil(done: () => boolean, ms = DEADLINE_MS, describe = (): string => 'condition not met'): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`${describe()} within ${ms} ms`));
      }, ms);
      const check = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiter = null;
        resolve();
      };
      this.waiter = check;
      check();
    });
  }
}

/** Frames `payload` with a little-endian length header of `headerSize` bytes (0: raw). */
function frame(payload: Buffer, headerSize: 0 | 2 | 4): Buffer {
  if (headerSize === 0) return payload;
  const header = Buffer.alloc(headerSize);
  if (headerSize === 2) header.writeUInt16LE(payload.length);
  else header.writeUInt32LE(payload.length);
  return Buffer.concat([header, payload]);
}

/** Splits a u16-LE framed byte stream into payloads. Throws on a trailing partial frame. */
function unframe(stream: Buffer): Buffer[] {
  const payloads: Buffer[] = [];
  let at = 0;
  while (at < stream.length) {
    if (at + 2 > stream.length) throw new Error(`partial header at ${at}`);
    const length = stream.readUInt16LE(at);
    if (at + 2 + length > stream.length) throw new Error(`partial frame at ${at}`);
    payloads.push(stream.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return payloads;
}

/** Deterministic pseudo-random bytes. */
function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** Payload sizes that cover empty, tiny, mid-size and the u16 maximum. */
function sizes(count: number): number[] {
  const fixed = [0, 1, 2, 255, 256, 1024, 65535];
  return Array.from({ length: count }, (_, i) => (i < fixed.length ? fixed[i] : (i * 7919) % 4096));
}

describe('examples/relay-server.ts', () => {
  it('echoes exactly what each of 3 clients sends (2 worker shards), prints stats, exits 0 on SIGINT', async () => {
    const { relay, port, line } = await startRelay(['--shards', '2', '--duration', '20']);
    expect(line).toMatch(/— (2 worker shards|single-thread mode \(the native fd helper is unavailable.*\)), header 2, echo, pid \d+$/);

    const clients = [new RawClient(port), new RawClient(port), new RawClient(port)];
    await Promise.all(clients.map((c) => c.connected()));
    const sent = clients.map((client, c) => {
      const frames = sizes(300).map((size, i) => frame(pattern(size, c * 1000 + i), 2));
      const stream = Buffer.concat(frames);
      // Written in uneven slices, so frames straddle TCP segments.
      for (let at = 0; at < stream.length; at += 7001) client.socket.write(stream.subarray(at, at + 7001));
      return stream;
    });
    await Promise.all(clients.map((client, c) => client.waitForBytes(sent[c].length)));
    for (let c = 0; c < clients.length; c++) {
      expect(clients[c].received).toBe(sent[c].length);
      expect(clients[c].bytes().equals(sent[c])).toBe(true);
    }

    await relay.waitForLine(/^stats\s+\d+s\s+conns \d+\s+in .* dg\/s .*\/s\s+out .* dg\/s .*\/s\s+ring \d+\.\d%/, 5000);
    relay.child.kill('SIGINT');
    const { code } = await exitOf(relay);
    expect(code).toBe(0);
    expect(relay.stdout.some((l) => /^ringwire relay stopped \(SIGINT\) after .* 3 connections/.test(l))).toBe(true);
  });

  it('broadcasts every datagram to every client in order (single-thread mode), exits 0 on SIGTERM', async () => {
    const { relay, port, line } = await startRelay(['--shards', '0', '--mode', 'broadcast', '--duration', '20']);
    expect(line).toMatch(/— single-thread mode, header 2, broadcast, pid \d+$/);
    const clients = [new RawClient(port), new RawClient(port), new RawClient(port)];
    await Promise.all(clients.map((c) => c.connected()));

    // A hello per client; once each client has its own hello back, it is on the relay's list.
    const hellos = clients.map((_, c) => Buffer.from([0xff, c]));
    clients.forEach((client, c) => client.socket.write(frame(hellos[c], 2)));
    await Promise.all(
      clients.map((client, c) =>
        client.waitUntil(
          () => unframe(client.bytes()).some((p) => p.equals(hellos[c])),
          DEADLINE_MS,
          () => `client ${c}: no hello back`,
        ),
      ),
    );
    const before = clients.map((client) => client.received);

    const perClient = 100;
    const messages = clients.map((_, c) =>
      Array.from({ length: perClient }, (_, i) => {
        const payload = Buffer.concat([Buffer.from([c]), pattern(4 + ((i * 37) % 500), c * 7777 + i)]);
        return payload;
      }),
    );
    const expectedBytes = messages.flat().reduce((n, p) => n + 2 + p.length, 0);
    clients.forEach((client, c) => client.socket.write(Buffer.concat(messages[c].map((p) => frame(p, 2)))));
    await Promise.all(clients.map((client, c) => client.waitForBytes(before[c] + expectedBytes)));

    for (let receiver = 0; receiver < clients.length; receiver++) {
      const payloads = unframe(clients[receiver].bytes()).filter((p) => p[0] !== 0xff);
      expect(payloads).toHaveLength(clients.length * perClient);
      for (let sender = 0; sender < clients.length; sender++) {
        const fromSender = payloads.filter((p) => p[0] === sender);
        expect(fromSender).toHaveLength(perClient);
        fromSender.forEach((p, i) => expect(p.equals(messages[sender][i])).toBe(true));
      }
    }

    relay.child.kill('SIGTERM');
    const { code } = await exitOf(relay);
    expect(code).toBe(0);
    expect(relay.stdout.some((l) => l.startsWith('ringwire relay stopped (SIGTERM)'))).toBe(true);
  });

  it('echoes u32-framed datagrams with --header-size 4', async () => {
    const { relay, port, line } = await startRelay(['--shards', '0', '--header-size', '4']);
    expect(line).toMatch(/header 4, echo, pid \d+$/);
    const client = new RawClient(port);
    await client.connected();
    const big = pattern(200_000, 42); // past what a u16 header can announce
    const stream = Buffer.concat([frame(pattern(10, 1), 4), frame(big, 4), frame(Buffer.alloc(0), 4)]);
    client.socket.write(stream);
    await client.waitForBytes(stream.length);
    expect(client.bytes().equals(stream)).toBe(true);
    relay.child.kill('SIGINT');
    expect((await exitOf(relay)).code).toBe(0);
  });

  it('relays the raw byte stream with --header-size 0', async () => {
    const { relay, port, line } = await startRelay(['--shards', '0', '--header-size', '0']);
    expect(line).toMatch(/header 0 \(raw\), echo, pid \d+$/);
    const client = new RawClient(port);
    await client.connected();
    const stream = pattern(300_000, 9);
    client.socket.write(stream);
    await client.waitForBytes(stream.length);
    expect(client.bytes().equals(stream)).toBe(true);
    relay.child.kill('SIGINT');
    expect((await exitOf(relay)).code).toBe(0);
  });

  it('stops by itself after --duration and prints a summary', async () => {
    const { relay } = await startRelay(['--shards', '0', '--duration', '1.5']);
    const { code } = await exitOf(relay);
    expect(code).toBe(0);
    expect(relay.stdout.some((l) => l.startsWith('stats '))).toBe(true);
    expect(relay.stdout.at(-1)).toMatch(/^ringwire relay stopped \(--duration 1\.5\) after 1\.\d s: 0 connections/);
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--port', '70000'], /--port must be an integer from 0 to 65535, got "70000"/],
    [['--header-size', '3'], /--header-size must be one of 0, 2, 4, got "3"/],
    [['--mode', 'chat'], /--mode must be one of echo, broadcast, got "chat"/],
    [['--duration', '-1'], /--duration/],
    [['extra'], /positional/i],
  ])('rejects %j with a usage message and exit code 2', async (args, message) => {
    const relay = start('relay-server.ts', args);
    const { code } = await exitOf(relay);
    expect(code).toBe(2);
    expect(relay.stderr).toMatch(message);
    expect(relay.stderr).toMatch(/usage: npx tsx examples\/relay-server\.ts \[flags\]/);
    expect(relay.stdout).toEqual([]);
  });
});

/** Sends `text` and resolves 'echoed' when the echo is back, 'closed' when the connection ends first. */
function echoOrClose(client: RawClient, text: string): Promise<'echoed' | 'closed'> {
  const want = client.received + 2 + text.length;
  return new Promise((resolve) => {
    const check = (): void => {
      if (client.received >= want) finish('echoed');
      else if (client.socket.destroyed || client.socket.readableEnded) finish('closed');
    };
    const finish = (outcome: 'echoed' | 'closed'): void => {
      client.socket.off('data', onData);
      client.socket.off('close', check);
      client.socket.off('end', check);
      resolve(outcome);
    };
    const onData = (): void => {
      setImmediate(check); // after RawClient's own listener has counted the bytes
    };
    client.socket.on('data', onData);
    client.socket.on('close', check);
    client.socket.on('end', check);
    if (!client.socket.destroyed) client.socket.write(frame(Buffer.from(text), 2));
    check();
  });
}

describe('examples/relay-server.ts --processes', () => {
  it('runs 2 relays on one port, restarts one that dies (its clients alone are lost), stops both on SIGINT', async () => {
    const supervisor = start('relay-server.ts', ['--host', '127.0.0.1', '--port', '0', '--processes', '2', '--shards', '1'], { ownProcessGroup: true });
    await supervisor.waitForLine(/^\[p1\] ringwire relay on 127\.0\.0\.1:(\d+) .*port shared \(SO_REUSEPORT\), pid \d+$/, START_DEADLINE_MS);
    const second = await supervisor.waitForLine(/^\[p2\] ringwire relay on 127\.0\.0\.1:(\d+) .*pid (\d+)$/, START_DEADLINE_MS);
    const port = Number(second[1]);
    const first = supervisor.stdout.map((l) => l.match(/^\[p1\] ringwire relay on 127\.0\.0\.1:(\d+) .*pid (\d+)$/)).find(Boolean)!;
    expect(Number(first[1])).toBe(port);

    // 30 clients, spread by the kernel over the two processes; each gets its echo.
    const echo = async (client: RawClient, text: string): Promise<void> => {
      const before = client.received;
      client.socket.write(frame(Buffer.from(text), 2));
      await client.waitForBytes(before + 2 + text.length);
    };
    const clients = Array.from({ length: 30 }, () => new RawClient(port));
    await Promise.all(clients.map((c) => c.connected()));
    await Promise.all(clients.map((c, i) => echo(c, `hello ${i}`)));

    // Kill process 2: its clients are cut, process 1's keep working, and p2 comes back.
    process.kill(Number(second[2]), 'SIGKILL');
    await supervisor.waitForLine(/^\[p2\] died \(SIGKILL\) after .* restarting in \d+ ms$/);
    // Each client tries once more: an echo says its process lives, a close that it died.
    const outcomes = await Promise.all(clients.map((c, i) => echoOrClose(c, `still here ${i}`)));
    const lost = outcomes.filter((o) => o === 'closed').length;
    expect(lost).toBeGreaterThan(0);
    expect(lost).toBeLessThan(clients.length);
    const restarted = (): string[] => supervisor.stdout.filter((l) => /^\[p2\] ringwire relay on /.test(l));
    await pollUntil(() => restarted().length === 2, { timeoutMs: START_DEADLINE_MS, label: 'process 2 restarted' });
    expect(restarted()[1]).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} `));
    expect(restarted()[1]).not.toMatch(new RegExp(`pid ${second[2]}$`));
    const fresh = Array.from({ length: 10 }, () => new RawClient(port));
    await Promise.all(fresh.map((c) => c.connected()));
    await Promise.all(fresh.map((c, i) => echo(c, `new ${i}`)));

    // Ctrl-C in a terminal signals the whole process group: supervisor and relays alike.
    process.kill(-supervisor.child.pid!, 'SIGINT');
    expect((await exitOf(supervisor)).code).toBe(0);
    expect(supervisor.stdout).toContain('ringwire relay supervisor: every process stopped');
    // Each relay closes cleanly once, on the supervisor's SIGTERM (it leaves SIGINT to it).
    expect(supervisor.stdout.filter((l) => /^\[p\d\] ringwire relay stopped \(SIGTERM\)/.test(l))).toHaveLength(2);
    expect(supervisor.stdout.some((l) => / again: exiting now/.test(l))).toBe(false);
  });
});
