/**
 * bench/websocket.bench.ts in miniature, so it cannot rot: both servers (ringwire with 2
 * shards and a WebSocket rendezvous, the ws library's) take an echo row and a game row
 * from real WebSocket clients in another process; every message arrives, every figure the
 * table divides is there, and the table prints the ratios and the aim line. Not a
 * measurement: 1 s windows with a handful of clients. Needs `npm run build` (ringwire's dist/).
 */
import { describe, expect, it, vi } from 'vitest';
import { WEBSOCKET_DEFAULTS, parseWebSocketBenchArgs, printWebSocketBench, runWebSocketBench } from './websocket.bench.js';

describe('the WebSocket bench', () => {
  it('measures ringwire-2 and ws on echo and game rows, nothing lost, and prints ws ÷ ringwire', async () => {
    const { options } = parseWebSocketBenchArgs(['--echo-connections', '4', '--connections', '20', '--seconds', '1', '--warmup', '0.5']);
    expect(options).toMatchObject({ servers: ['ringwire2', 'ws'], rows: ['echo', 'game'], echoConnections: 4, connections: [20], seconds: 1 });
    const results = await runWebSocketBench(options);
    expect(results.map((r) => `${r.row} ${r.server}`)).toEqual(['echo ringwire2', 'echo ws', 'idle idle', 'game ringwire2', 'game ws']);
    for (const r of results.filter((row) => row.row !== 'idle')) {
      expect(r.connected).toBe(r.connections);
      expect(r.messagesInWindow).toBeGreaterThan(0);
      expect(r.lost).toBe(0);
      expect(r.bytesOk).toBe(true);
      expect(r.mainUsPerMessage).toBeGreaterThan(0);
      expect(r.cpuUsPerMessage).toBeGreaterThan(0);
    }
    const echo = results.filter((r) => r.row === 'echo');
    expect(echo[0].mode).toBe('2 worker shards, WebSocket');
    expect(echo[1].mode).toBe('ws library, main thread');
    // Game rows: 20 clients at 60 Hz, the tick kept near 60/s.
    for (const r of results.filter((row) => row.row === 'game')) {
      expect(r.messagesPerSec).toBeGreaterThan(20 * 60 * 0.5);
      expect(r.ticksPerSec).toBeGreaterThan(30);
    }
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(String(line)));
    try {
      printWebSocketBench(results, options);
    } finally {
      log.mockRestore();
    }
    const text = lines.join('\n');
    expect(text).toMatch(/^ringwire2\s+4\s+[\d,]+\s+[\d.]+x\s+[\d.]+\s+[\d.]+x/m);
    expect(text).toMatch(/^ringwire2\s+20\s+[\d,]+\s+[\d,]+\s+[\d.]+\s+-?[\d.]+\s+[\d.]+x/m);
    expect(text).toMatch(
      /aim \(#26\): ≥10× less main-thread time per message than ws under game traffic: ringwire2 at 20 clients [\d.]+× — (met|not met) in this run/,
    );
  });

  it('refuses an unknown server or row, naming the flag', () => {
    expect(() => parseWebSocketBenchArgs(['--servers', 'nginx'])).toThrow(/--servers: unknown server nginx/);
    expect(() => parseWebSocketBenchArgs(['--rows', 'blast'])).toThrow(/--rows: unknown row blast/);
    expect(parseWebSocketBenchArgs([]).options).toEqual(WEBSOCKET_DEFAULTS);
  });
});
