/**
 * Publish latency through the ChannelBus: a client of process A says a line in a channel;
 * how long until a member connected to process B has it (through nats-server), beside a
 * member connected to A itself (the local fan-out, no NATS), measured in the same run.
 *
 *   npm run bench:bus -- [--rate 500] [--duration 10] [--members 50] [--json FILE]
 *
 * Starts nats-server (Debian's package) on a free loopback port and two
 * examples/bus-chat-server.ts processes (single-thread mode); `--members` clients join on
 * each side. One client of A says --rate lines/s for --duration seconds, each stamped with
 * its send time; every member's arrival is timed on this process's clock, so the figure is
 * the whole round: client → A → (NATS → B) → member.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Datagram, DatagramIterator } from '../src/index.js';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    duration: { type: 'string', default: '10' },
    members: { type: 'string', default: '50' },
    json: { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.duration);
const members = Number(values.members);
const children: ChildProcess[] = [];

function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no line matching ${pattern} within 20 s`)), 20_000);
    createInterface({ input: child[stream]! }).on('line', (line) => {
      const match = pattern.exec(line);
      if (match === null) return;
      clearTimeout(timer);
      done(match);
    });
  });
}

async function startNats(): Promise<number> {
  const path = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((candidate) => existsSync(candidate)) ?? 'nats-server';
  const child = spawn(path, ['-a', '127.0.0.1', '-p', '-1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  child.once('error', (error) => {
    console.error(`bus-latency: cannot start nats-server (apt-get install nats-server): ${error.message}`);
    process.exit(1);
  });
  return Number((await waitForLine(child, 'stderr', /Listening for client connections on [\d.]+:(\d+)/))[1]);
}

async function startChat(natsPort: number): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/bus-chat-server.ts', '--host', '127.0.0.1', '--port', '0', '--shards', '0', '--nats', `nats://127.0.0.1:${natsPort}`],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  return Number((await waitForLine(child, 'stdout', /^ringwire chat on 127\.0\.0\.1:(\d+) /))[1]);
}

/** A member: a TCP client that joins `channel` and times every line it receives. */
class Member {
  private buffered: Buffer = Buffer.alloc(0);
  readonly latencies: number[] = [];
  probes = 0;
  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const now = performance.now();
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 2) {
        const length = this.buffered.readUInt16LE(0);
        if (this.buffered.length < 2 + length) break;
        const it = new DatagramIterator(new Datagram(this.buffered.subarray(2, 2 + length)));
        it.getString();
        it.getString();
        const text = it.getString();
        this.buffered = this.buffered.subarray(2 + length);
        if (text.startsWith('t ')) this.latencies.push(now - Number(text.slice(2)));
        else if (text === 'probe') this.probes++;
      }
    });
  }

  static async connect(port: number): Promise<Member> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((done) => socket.once('connect', done));
    return new Member(socket);
  }

  send(op: number, channel: string, text?: string): void {
    const dg = new Datagram();
    dg.addUint8(op);
    dg.addString(channel);
    if (text !== undefined) dg.addString(text);
    const header = Buffer.alloc(2);
    header.writeUInt16LE(dg.getLength());
    this.socket.write(Buffer.concat([header, dg.getMessage()]));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

try {
  const natsPort = await startNats();
  const [a, b] = await Promise.all([startChat(natsPort), startChat(natsPort)]);
  const local = await Promise.all(Array.from({ length: members }, () => Member.connect(a)));
  const remote = await Promise.all(Array.from({ length: members }, () => Member.connect(b)));
  const speaker = await Member.connect(a);
  for (const m of [...local, ...remote]) m.send(1, 'bench.room');
  // Ready once a probe reaches everyone (the joins are in, in both processes).
  const everyone = [...local, ...remote];
  for (let tries = 0; !everyone.every((m) => m.probes > 0); tries++) {
    if (tries === 100) throw new Error('the members never got the probe');
    speaker.send(3, 'bench.room', 'probe');
    await new Promise((done) => setTimeout(done, 100));
  }
  for (const m of everyone) m.latencies.length = 0;
  const total = Math.round(rate * seconds);
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((done) => setTimeout(done, wait));
    // Stamped with when it was due, not when it went: a late send counts its lateness.
    speaker.send(3, 'bench.room', `t ${due}`);
  }
  await new Promise((done) => setTimeout(done, 2000));
  const summary = (group: Member[]): { received: number; expected: number; p50Ms: number; p99Ms: number } => {
    const all = group.flatMap((m) => m.latencies).sort((x, y) => x - y);
    return { received: all.length, expected: total * group.length, p50Ms: percentile(all, 50), p99Ms: percentile(all, 99) };
  };
  const inA = summary(local);
  const inB = summary(remote);
  const line = (name: string, s: ReturnType<typeof summary>): string =>
    `${name.padEnd(28)} received ${s.received}/${s.expected}  p50 ${s.p50Ms.toFixed(2)} ms  p99 ${s.p99Ms.toFixed(2)} ms`;
  console.log(`${rate} lines/s for ${seconds} s to ${members} members on each side`);
  console.log(line('same process (local fan-out)', inA));
  console.log(line('other process (through NATS)', inB));
  console.log(`other / same: p50 ${(inB.p50Ms / inA.p50Ms).toFixed(2)}×  p99 ${(inB.p99Ms / inA.p99Ms).toFixed(2)}×`);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ rate, seconds, members, local: inA, remote: inB }, null, 2));
  for (const m of [...everyone, speaker]) m.socket.destroy();
} finally {
  for (const child of children) child.kill('SIGINT');
}
