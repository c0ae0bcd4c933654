/**
 * The latency summary: every percentile the reports show, in order, and nothing that looks
 * like a perfect run when nothing was measured.
 */
import { describe, expect, it } from 'vitest';
import { formatRunReport } from '../output/console.js';
import type { RunReport } from '../report.js';
import { LatencyRecorder } from './latency-recorder.js';

describe('LatencyRecorder.summary', () => {
  it('gives min, p50, p90, p95, p99, p99.9, p99.99, max, mean and stdev, in order', () => {
    const recorder = new LatencyRecorder();
    for (let i = 1; i <= 10_000; i++) recorder.record(i / 1000, true); // 0.001 … 10 ms, evenly
    recorder.record(1000, false); // outside the window: not in the summary
    const l = recorder.summary();
    expect(l.count).toBe(10_000);
    expect(l.minMs).toBeCloseTo(0.001, 3);
    expect(l.p50Ms).toBeCloseTo(5, 1);
    expect(l.p95Ms).toBeCloseTo(9.5, 1);
    expect(l.p9999Ms).toBeCloseTo(10, 1);
    expect(l.maxMs).toBeCloseTo(10, 1);
    expect(l.meanMs).toBeCloseTo(5, 1);
    // The standard deviation of a uniform spread over 10 ms: 10 / √12.
    expect(l.stdevMs).toBeCloseTo(10 / Math.sqrt(12), 1);
    const order = [l.minMs, l.p50Ms, l.p90Ms, l.p95Ms, l.p99Ms, l.p999Ms, l.p9999Ms, l.maxMs] as number[];
    for (let i = 1; i < order.length; i++) expect(order[i]).toBeGreaterThanOrEqual(order[i - 1]);
  });

  it('gives null for every figure when nothing was measured, and the table prints "–"', () => {
    const l = new LatencyRecorder().summary();
    expect(l.count).toBe(0);
    for (const value of [l.minMs, l.p50Ms, l.p90Ms, l.p95Ms, l.p99Ms, l.p999Ms, l.p9999Ms, l.maxMs, l.meanMs, l.stdevMs]) {
      expect(value).toBeNull();
    }
    const report = {
      target: 'ringwire-2',
      targetKind: 'ringwire-2',
      settings: {
        workload: 'latency', host: '127.0.0.1', port: 1, transport: 'tcp', headerSize: 2, connections: 1, payloadMin: 64,
        payloadMax: 64, durationSeconds: 1, warmupSeconds: 0, ratePerConnection: 1, connectRate: 1, clientShards: 0,
      },
      startedAt: new Date(0).toISOString(),
      measuredSeconds: 1,
      throughput: { sentDatagrams: 0, receivedDatagrams: 0, sentPerSecond: 0, receivedPerSecond: 0, sentMBPerSecond: 0, receivedMBPerSecond: 0 },
      latency: l,
      integrity: null,
      connections: null,
      errors: { connectFailed: 0, resets: 0, sendRetries: 0 },
      timeline: [],
    } as RunReport;
    const row = formatRunReport(report).split('\n').find((line) => line.trimStart().startsWith('round trip'))!;
    expect(row.trim().split(/\s+/).slice(2, 12)).toEqual(Array(10).fill('–'));
  });
});
