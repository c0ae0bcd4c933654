/**
 * The harness over UDP (`--udp`, issue #6): the UDP echo targets answer hand-built
 * Panda3D packets and drop bad ones; the latency workload runs over ringwire's UDP client
 * against ringwire with 0 and 2 shards and against plain node:dgram, times its round
 * trips and counts what was lost without failing on it; the command line refuses --udp
 * where it does not apply and compares the UDP targets. Runs the compiled servers and
 * ringwire's dist/: `npm run build` first.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from './report.js';
import { integrityFaults } from './stats/integrity-checker.js';
import { type LocalTargetKind, type RunningTarget, startTarget } from './targets.js';
import { checkTargetFits, runOnLocalTarget } from './workloads/local-targets.js';
import { UsageError, resolveSettings } from './workloads/workload-settings.js';
import { briefSettings, expectLatency, expectRunShape, runAgainst, runCli } from './test-helpers.js';

const UDP_TARGETS: LocalTargetKind[] = ['ringwire-udp-0', 'ringwire-udp-2', 'plain-udp'];
const DEADLINE_MS = 10_000;

const started: RunningTarget[] = [];
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((target) => target.stop()));
});

/** Panda3D's UDP packet: the u16 LE sum of the payload bytes, then the payload. */
function pandaPacket(payload: Buffer): Buffer {
  let sum = 0;
  for (const byte of payload) sum += byte;
  const header = Buffer.alloc(2);
  header.writeUInt16LE(sum & 0xffff, 0);
  return Buffer.concat([header, payload]);
}

/**
 * Sends `packets` from one plain dgram socket to `port`, collects what comes back until
 * `expected` packets have arrived, then waits `settleMs` for any extra; resolves them all.
 */
async function exchange(port: number, packets: Buffer[], expected: number, settleMs = 0): Promise<Buffer[]> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  try {
    return await new Promise<Buffer[]>((resolve, reject) => {
      const received: Buffer[] = [];
      const timer = setTimeout(() => reject(new Error(`got ${received.length} of ${expected} packets back within ${DEADLINE_MS} ms`)), DEADLINE_MS);
      socket.on('message', (packet) => {
        received.push(packet);
        if (received.length === expected) {
          clearTimeout(timer);
          setTimeout(() => resolve(received), settleMs);
        }
      });
      // All at once: loopback buffers hold 100 small packets easily, and UDP from one
      // socket to another keeps their order.
      for (const packet of packets) socket.send(packet, port, '127.0.0.1');
    });
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/** Latency over UDP: echoes timed, nothing duplicated or corrupted, and lost = sent − received. */
function expectUdpLatency(report: RunReport): void {
  expect(report.settings.transport).toBe('udp');
  expect(report.throughput.receivedDatagrams).toBeGreaterThan(0);
  expectLatency(report);
  for (const value of [report.latency!.p50Ms, report.latency!.p99Ms, report.latency!.maxMs]) expect(Number.isFinite(value)).toBe(true);
  const i = report.integrity!;
  expect(i.duplicated).toBe(0);
  expect(i.corrupted).toBe(0);
  expect(i.reordered).toBe(0);
  // UDP may lose: what it lost is reported, and is exactly what never came back.
  const t = report.totals!;
  expect(i.lost).toBe(t.sentDatagrams - t.receivedDatagrams);
  expect(report.udp).toEqual({ rejected: 0, overflow: expect.any(Number) });
  expect(integrityFaults(report)).toBe(0);
}

describe('UDP targets', () => {
  for (const kind of UDP_TARGETS) {
    it(`${kind} echoes Panda3D packets exactly, drops bad ones, then stops`, async () => {
      const target = await startTarget(kind, { headerSize: 2 });
      started.push(target);
      expect(target).toMatchObject({ kind, name: kind, host: '127.0.0.1', transport: 'udp' });
      const payloads = Array.from({ length: 100 }, (_, i) => Buffer.from(Array.from({ length: 1 + ((i * 37) % 300) }, (_, j) => (i * 31 + j * 7) & 0xff)));
      const good = payloads.map(pandaPacket);
      const corrupted = Buffer.from(good[5]);
      corrupted[0] ^= 0x01;
      // A short packet and a wrong checksum first: neither may come back.
      const sent = [Buffer.from([7]), corrupted, ...good];
      const received = await exchange(target.port, sent, good.length, 200);
      expect(received).toHaveLength(good.length);
      expect(received).toEqual(good);
      await target.stop();
    });
  }
});

describe('the latency workload over UDP', () => {
  for (const kind of ['ringwire-udp-2', 'ringwire-udp-0', 'plain-udp'] as const) {
    it(`against ${kind}: round trips timed, nothing duplicated or corrupted, losses counted`, async () => {
      const settings = briefSettings('latency', { transport: 'udp', connections: 8, ratePerConnection: 100 });
      const report = await runAgainst(kind, settings);
      expectRunShape(report, settings);
      expectUdpLatency(report);
      expect(report.targetKind).toBe(kind);
      // 8 × 100/s for 1 s: the schedule, not the server, sets the rate.
      expect(report.throughput.sentDatagrams).toBeGreaterThan(500);
      expect(report.throughput.sentDatagrams).toBeLessThan(2000);
    });
  }

  it('a UDP target refuses TCP settings and a TCP target UDP settings, before starting', async () => {
    expect(() => checkTargetFits('ringwire-udp-2', briefSettings('latency'))).toThrow(/speaks UDP/);
    expect(() => checkTargetFits('ringwire-2', briefSettings('latency', { transport: 'udp' }))).toThrow(/does not speak UDP/);
    await expect(runOnLocalTarget('plain-udp', briefSettings('soak'))).rejects.toThrow(RangeError);
  });
});

describe('UDP settings and verdicts', () => {
  it.each([
    ['throughput', /flow control/],
    ['connections', /holds streams/],
    ['soak', /may lose/],
  ] as const)('--udp is refused for %s', (workload, why) => {
    expect(() => resolveSettings(workload, { transport: 'udp' })).toThrow(UsageError);
    expect(() => resolveSettings(workload, { transport: 'udp' })).toThrow(why);
  });

  it('caps the payload at one UDP packet and refuses --header-size', () => {
    expect(resolveSettings('latency', { transport: 'udp', payloadMin: 65_505 }).payloadMax).toBe(65_505);
    expect(() => resolveSettings('latency', { transport: 'udp', payloadMin: 65_506 })).toThrow(/one UDP packet/);
    expect(() => resolveSettings('latency', { transport: 'udp', headerSize: 4 })).toThrow(/--header-size/);
  });

  it('over UDP lost datagrams are not faults; duplicated, reordered, corrupted and bad checksums are', () => {
    const run = (transport: 'tcp' | 'udp', lost: number, extra: Partial<RunReport> = {}): RunReport =>
      ({
        settings: { transport },
        integrity: { lost, duplicated: 0, reordered: 0, corrupted: 0 },
        ...extra,
      }) as RunReport;
    expect(integrityFaults(run('udp', 5))).toBe(0);
    expect(integrityFaults(run('tcp', 5))).toBe(5);
    expect(integrityFaults(run('udp', 5, { udp: { rejected: 2, overflow: 9 } }))).toBe(2);
    expect(integrityFaults(run('udp', 0, { integrity: { lost: 0, duplicated: 1, reordered: 1, corrupted: 1 } }))).toBe(3);
  });
});

describe('the command line with --udp', () => {
  it.each([
    [['throughput', '--udp'], /--udp applies to the latency workload only/],
    [['connections', '--udp'], /--udp applies to the latency workload only/],
    [['soak', '--udp'], /--udp applies to the latency workload only/],
    [['latency', '--udp', '--ws'], /--ws and --udp/],
    [['latency', '--udp', '--header-size', '4'], /--header-size/],
    [['latency', '--udp', '--payload', '70000'], /one UDP packet/],
    [['latency', '--targets', 'ringwire-udp-2'], /speaks UDP: add --udp/],
    [['latency', '--udp', '--targets', 'ringwire-2'], /--udp runs against UDP servers/],
    [['latency', '--udp', '--compare', '--targets', 'plain-udp,ws'], /--udp runs against UDP servers/],
  ])('refuses %j with exit code 2', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('--help describes --udp', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--udp');
    expect(result.stdout).toContain('ringwire-udp-2');
  });

  it('runs latency --udp against a UDP server it is pointed at', async () => {
    const target = await startTarget('ringwire-udp-2', { headerSize: 2 });
    started.push(target);
    const result = await runCli(['latency', '--udp', '--port', String(target.port), '--duration', '1', '--warmup', '0', '--connections', '4', '--grace', '1', '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('(udp, 2-byte checksum header)');
    expect(result.stdout).toMatch(/duplicated 0 · reordered 0 · corrupted 0/);
    expect(result.stdout).toMatch(/udp drops \(client\)\s+bad checksum 0/);
  });

  it('--compare --udp runs the UDP targets in turn, ratios to ringwire-udp-2', async () => {
    const result = await runCli(['latency', '--compare', '--udp', '--duration', '1', '--warmup', '0', '--connections', '4', '--grace', '1', '--quiet'], 60_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('ratios to ringwire-udp-2');
    expect(result.stdout).toMatch(/ringwire-udp-2 .* 1\.00×/);
    for (const kind of UDP_TARGETS) expect(result.stdout).toContain(kind);
    expect(result.stdout).not.toContain('FAILED');
  });
});
