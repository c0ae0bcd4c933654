/**
 * The soak check (issue #5, point 5) in CI: the harness's soak workload against ringwire
 * with 2 shards for RINGWIRE_SOAK_SECONDS (default 30) must pass: no datagram lost,
 * duplicated, reordered or corrupted, and the server's RSS within its bound after warm-up.
 * The check itself is checked too: it fails against the faulty server, its memory rule
 * fails on growth past the bound, and its command line refuses bad flags. Runs the
 * compiled servers and ringwire's dist/: `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  RSS_GROWTH_BOUND_BYTES,
  checkMemory,
  formatSoakCheck,
  runSoakCheck,
  warmupSecondsFor,
} from './harness/soak-check.js';

const DEFAULT_SECONDS = 30;

/** RINGWIRE_SOAK_SECONDS, or the CI default; throws for a value that is not a positive number. */
function soakSeconds(): number {
  const text = process.env.RINGWIRE_SOAK_SECONDS;
  if (text === undefined || text.trim() === '') return DEFAULT_SECONDS;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new RangeError(`RINGWIRE_SOAK_SECONDS must be a positive number, got ${JSON.stringify(text)}`);
  return seconds;
}

const SECONDS = soakSeconds();
const MIB = 1024 * 1024;
const SOAK_CLI = fileURLToPath(new URL('./soak.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));

describe('soak check', () => {
  it(
    `ringwire-2 for ${SECONDS} s: every datagram verified, server RSS within ${RSS_GROWTH_BOUND_BYTES / MIB} MiB of its warm-up`,
    async () => {
      const report = await runSoakCheck({ seconds: SECONDS });
      const summary = formatSoakCheck(report);
      expect(report.failures, summary).toEqual([]);
      expect(report.passed).toBe(true);
      expect(report.run.integrity).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
      expect(report.run.errors).toMatchObject({ connectFailed: 0, resets: 0 });
      // 100 connections × 30/s: the schedule sets how many, every one of them came back.
      expect(report.run.totals!.sentDatagrams).toBeGreaterThan(SECONDS * 3000 * 0.9);
      expect(report.verified).toBe(report.run.totals!.sentDatagrams);
      const m = report.memory;
      expect(m.warmupSeconds).toBe(warmupSecondsFor(SECONDS));
      expect(m.samples.length).toBeGreaterThanOrEqual(Math.floor(SECONDS * 0.9));
      expect(m.growthBytes).not.toBeNull();
      expect(m.growthBytes!).toBeLessThanOrEqual(RSS_GROWTH_BOUND_BYTES);
      expect(summary).toMatch(/^PASS: /m);
    },
    (SECONDS + 60) * 1000,
  );

  it('fails against a server that loses and reorders datagrams', async () => {
    const report = await runSoakCheck({ seconds: 3, target: 'faulty' });
    expect(report.passed).toBe(false);
    expect(report.failures.some((failure) => /^integrity: lost [1-9]/.test(failure))).toBe(true);
    expect(formatSoakCheck(report)).toMatch(/^FAIL:/m);
  }, 60_000);
});

describe('the memory rule', () => {
  const samples = (values: number[]) => values.map((mib, t) => ({ t, rssBytes: mib * MIB }));

  it('the warm-up is 20% of the run or 10 s, whichever is less', () => {
    expect(warmupSecondsFor(30)).toBe(6);
    expect(warmupSecondsFor(50)).toBe(10);
    expect(warmupSecondsFor(600)).toBe(10);
  });

  it('measures growth from the first sample after the warm-up to the largest one after it', () => {
    // Growth during the warm-up (60 → 100) does not count; 100 → 130 does.
    const m = checkMemory(samples([60, 80, 100, 110, 130, 120]), 2);
    expect(m).toMatchObject({ startRssBytes: 60 * MIB, warmupRssBytes: 100 * MIB, warmupSampleSeconds: 2, maxRssBytes: 130 * MIB, maxSampleSeconds: 4 });
    expect(m.growthBytes).toBe(30 * MIB);
    expect(m.withinBound).toBe(true);
  });

  it('fails past the bound, and when nothing was sampled after the warm-up', () => {
    expect(checkMemory(samples([50, 50, 50 + 64, 50 + 64.5]), 1).withinBound).toBe(false);
    expect(checkMemory(samples([50, 50, 50 + 64]), 1).withinBound).toBe(true);
    const none = checkMemory(samples([50, 60]), 5);
    expect(none.growthBytes).toBeNull();
    expect(none.withinBound).toBe(false);
  });
});

describe('the soak command line', () => {
  it.each([
    [['--seconds', '0'], /--seconds must be a number greater than 0/],
    [['--seconds', 'ten'], /--seconds/],
    [['--json', '/no/such/dir/soak.json'], /does not exist/],
    [['--bogus'], /Unknown option/],
  ])('refuses %j with exit code 2', async (args, message) => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(TSX, [SOAK_CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
