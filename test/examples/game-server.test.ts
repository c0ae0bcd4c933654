/**
 * The README's "Writing a game server" is examples/game-server.ts, whole: the README shows
 * the file as it is, and the file runs: players join and get states that carry their
 * inputs, a malformed message closes its sender, and SIGTERM drains (a last state to
 * every player, an orderly close, exit 0).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { START_DEADLINE_MS, exitOf, killPrograms, startProgram } from '../helpers/example-program.js';
import { Peer, closeAll, frame, pollUntil } from '../helpers/net-harness.js';
import { freePort, promtoolCheck } from '../helpers/prometheus.js';

afterEach(async () => {
  await closeAll();
  await killPrograms();
});

const ROOT = new URL('../../', import.meta.url);
const JOIN = 1;
const INPUT = 2;
const WELCOME = 10;
const STATE = 11;

function join(name: string): Buffer {
  const text = Buffer.from(name, 'utf8');
  const body = Buffer.alloc(3 + text.length);
  body.writeUInt8(JOIN, 0);
  body.writeUInt16LE(text.length, 1);
  text.copy(body, 3);
  return frame(body);
}

function input(sequence: number, direction: number): Buffer {
  const body = Buffer.alloc(6);
  body.writeUInt8(INPUT, 0);
  body.writeUInt32LE(sequence, 1);
  body.writeInt8(direction, 5);
  return frame(body);
}

interface State {
  tick: number;
  players: { id: number; x: number; lastInput: number }[];
}

function states(peer: Peer): State[] {
  return peer.frames
    .filter((f) => f[0] === STATE)
    .map((f) => {
      const n = f.readUInt8(5);
      const players = Array.from({ length: n }, (_, i) => ({ id: f.readUInt32LE(6 + i * 12), x: f.readFloatLE(10 + i * 12), lastInput: f.readUInt32LE(14 + i * 12) }));
      return { tick: f.readUInt32LE(1), players };
    });
}

describe('examples/game-server.ts, the guide', () => {
  it('is in the README whole, and so is examples/game-metrics.ts', () => {
    const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
    for (const name of ['game-server.ts', 'game-metrics.ts']) {
      const file = readFileSync(new URL(`examples/${name}`, ROOT), 'utf8');
      expect(readme).toContain('```ts\n' + file + '```');
    }
  });

  it('runs: joins, inputs in the states, its /metrics, a malformed message closes its sender, SIGTERM drains', async () => {
    const metricsPort = await freePort();
    const server = startProgram('game-server.ts', [], { env: { PORT: '0', METRICS_PORT: String(metricsPort) } });
    const port = Number((await server.waitForLine(/^game server on port (\d+)$/, START_DEADLINE_MS))[1]);
    await server.waitForLine(/^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics$/, START_DEADLINE_MS);
    const alice = await Peer.connect(port);
    const bob = await Peer.connect(port);
    await alice.write(join('alice'));
    await bob.write(join('bob'));
    await pollUntil(() => [alice, bob].every((p) => p.frames.some((f) => f[0] === WELCOME)), { label: 'both welcomed' });
    const aliceId = alice.frames.find((f) => f[0] === WELCOME)!.readUInt32LE(1);
    await alice.write(input(7, 1));
    // A state that has alice's input 7 and her moving right.
    await pollUntil(
      () => states(bob).some((s) => s.players.some((p) => p.id === aliceId && p.lastInput === 7 && p.x > 0)),
      { timeoutMs: 10_000, label: "a state with alice's input" },
    );
    const last = states(bob).at(-1)!;
    expect(last.players.map((p) => p.id).sort()).toHaveLength(2);

    // Prometheus's view: the network, the loop and the process, in a form promtool accepts.
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    const sample = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(sample('ringwire_connections_open')).toBe(2);
    expect(sample('ringwire_datagrams_received_total')).toBe(3); // two joins, one input
    expect(sample('ringwire_tick_duration_seconds_count')).toBeGreaterThan(0);
    expect(sample('ringwire_frames_total')).toBe(sample('ringwire_tick_duration_seconds_count'));
    expect(sample('process_cpu_seconds_total')).toBeGreaterThan(0);
    // promtool's lint names nothing of ringwire's; prom-client's default process metrics
    // include three gauges it flags for their _total names (nodejs_active_*_total).
    const check = promtoolCheck(text);
    const findings = check.output.split('\n').filter((line) => line !== '' && !/^nodejs_active_\w+_total non-counter metrics/.test(line));
    expect(findings).toEqual([]);

    const mallory = await Peer.connect(port);
    await mallory.write(frame(Buffer.from([99])));
    await pollUntil(() => mallory.ended || mallory.closed, { label: 'the malformed sender closed' });

    const before = states(alice).length;
    server.child.kill('SIGTERM');
    server.child.kill('SIGTERM'); // twice: the drain goes on
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    await pollUntil(() => alice.ended && bob.ended, { label: 'both closed in order' });
    expect(states(alice).length).toBeGreaterThan(before);
    expect(server.stdout.at(-1)).toMatch(/^game server stopped after \d+ ticks$/);
  });
});
