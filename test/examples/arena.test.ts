// The arena (examples/arena) as real processes on loopback: ringwire's server with 2
// worker shards and its plain node:net twin go through the same tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../examples/arena/arena-game.js';
import { SNAPSHOT_FINAL, type Snapshot } from '../../examples/arena/arena-protocol.js';
import { PLAYER_RADIUS, ROOM_CAPACITY, RoomSimulation, TICK_RATE, type Player } from '../../examples/arena/arena-simulation.js';
import { ArenaClient, destroyArenaClients } from '../helpers/arena-client.js';
import { START_DEADLINE_MS, exitOf, killPrograms, startProgram, type Program } from '../helpers/example-program.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ringwire-arena-test-'));

afterEach(async () => {
  destroyArenaClients();
  await killPrograms();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SERVERS = [
  { name: 'ringwire, 2 shards', file: 'arena/arena-ringwire-server.ts', args: ['--shards', '2'] },
  { name: 'plain node:net twin', file: 'arena/arena-plain-server.ts', args: [] },
] as const;

async function startArena(server: (typeof SERVERS)[number], extra: string[] = []): Promise<{ program: Program; port: number }> {
  const program = startProgram(server.file, ['--host', '127.0.0.1', '--port', '0', ...server.args, ...extra]);
  const match = await program.waitForLine(/^arena server \(.* on 127\.0\.0\.1:(\d+)\) pid \d+$/, START_DEADLINE_MS);
  return { program, port: Number(match[1]) };
}

/** Resolves once `program` has printed `count` lines matching `pattern`; rejects at the deadline or at its exit. */
async function linesMatching(program: Program, pattern: RegExp, count: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (program.stdout.filter((line) => pattern.test(line)).length < count) {
    if (program.child.exitCode !== null || program.child.signalCode !== null) throw new Error(`exited before ${count} lines matching ${pattern}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fewer than ${count} lines matching ${pattern} within ${ms} ms`)), Math.max(0, deadline - Date.now()));
      // startProgram's listener, registered first, has appended the lines by the time this runs.
      program.child.stdout!.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * SIGTERM, and again every millisecond until the program exits (a double Ctrl-C, or
 * `timeout` signalling the process and then its group, only more so); resolves with the exit.
 */
async function terminateTwice(program: Program): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  program.child.kill('SIGTERM');
  const again = setInterval(() => program.child.kill('SIGTERM'), 1);
  try {
    return await exitOf(program);
  } finally {
    clearInterval(again);
  }
}

/** Runs the harness's arena-bots scenario; resolves with its exit code and JSON report. */
function runBots(port: number, bots: number, seconds: number): Promise<{ code: number | null; output: string; report: Report }> {
  const json = join(tmp, `bots-${port}-${seconds}.json`);
  const args = ['bench/harness/dist/cli.js', 'run', 'bench/harness/scenarios/arena-bots.ts', '--port', String(port), '-c', String(bots), '-d', `${seconds}s`, '--warmup', '1s', '--quiet', '--json', json];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the bots did not finish within ${seconds + 30} s:\n${output}`));
    }, (seconds + 30) * 1000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, output, report: JSON.parse(readFileSync(json, 'utf8')) as Report });
      } catch (error) {
        reject(new Error(`no report (${String(error)}):\n${output}`));
      }
    });
  });
}

interface Report {
  summary: {
    trends: Record<string, { count: number; p50: number | null; p99: number | null }>;
    counters: Record<string, { count: number }>;
    checks: Record<string, { passes: number; total: number; rate: number | null }>;
  };
}

/** Replays a journal: each room's state after each of its ticks, as a client reads it (f32 positions). */
function replay(entries: JournalEntry[], lastTick: Map<number, number>): Map<number, Map<number, Snapshot['rows']>> {
  const states = new Map<number, Map<number, Snapshot['rows']>>();
  const rooms = new Set(entries.map((e) => e[1]));
  for (const room of rooms) {
    const sim = new RoomSimulation();
    const players = new Map<number, Player>();
    const byTick = new Map<number, Snapshot['rows']>();
    states.set(room, byTick);
    const events = entries.filter((e) => e[1] === room);
    const end = lastTick.get(room) ?? 0;
    let i = 0;
    for (;;) {
      for (; i < events.length && events[i][2] === sim.tick; i++) {
        const e = events[i];
        if (e[0] === 'join') players.set(e[3], sim.addPlayer(e[3], e[4]));
        else if (e[0] === 'input') expect(sim.applyInput(players.get(e[3])!, e[4], e[5], e[6])).toBe(true);
        else expect(sim.removePlayer(e[3])).toBe(true);
      }
      if (i < events.length) expect(events[i][2]).toBeGreaterThan(sim.tick); // journal ticks never go back
      if (sim.tick >= end && i >= events.length) break;
      if (sim.players.length === 0) {
        // An empty room does not step: its next event is at the same tick.
        expect(i < events.length && events[i][2] === sim.tick).toBe(true);
        continue;
      }
      sim.step(1 / TICK_RATE);
      byTick.set(sim.tick, sim.players.map((p) => ({ id: p.id, x: Math.fround(p.x), y: Math.fround(p.y), lastInput: p.lastInput })));
    }
  }
  return states;
}

describe.each(SERVERS)('the arena: $name', (server) => {
  it('50 bots through the arena-bots scenario, its thresholds passing', async () => {
    const { program, port } = await startArena(server);
    const { code, output, report } = await runBots(port, 50, 4);
    expect(code, output).toBe(0);
    const { trends, counters, checks } = report.summary;
    expect(trends.input_to_state.count).toBeGreaterThan(50 * 30 * 3);
    expect(trends.snapshot_gap.count).toBeGreaterThan(50 * 20 * 3);
    expect(counters.errors.count).toBe(0);
    expect(checks['snapshot sequences increase'].total).toBeGreaterThan(50 * 20 * 3);
    expect(checks['snapshot sequences increase'].passes).toBe(checks['snapshot sequences increase'].total);
    expect(await terminateTwice(program)).toEqual({ code: 0, signal: null });
  });

  it('drains under 50 bots on SIGTERM: every bot gets SHUTDOWN and its room\'s final snapshot, then an orderly close', async () => {
    const { program, port } = await startArena(server);
    const bots = runBots(port, 50, 4);
    // Two seconds with every bot in (the harness's 1 s warm-up behind), then the signal.
    await linesMatching(program, /^stats .* players 50 /, 2);
    expect(await terminateTwice(program)).toEqual({ code: 0, signal: null });
    expect(program.stdout.some((line) => /^arena stopped \(SIGTERM\) .*: 50 players drained/.test(line))).toBe(true);
    // The bots that replace the drained ones find no server: errors, and the exit status says so.
    const { report, output } = await bots;
    const drain = report.summary.checks['drain: SHUTDOWN and the final snapshot, then an orderly close'];
    expect(drain, output).toEqual({ passes: 50, total: 50, rate: 1 });
    expect(report.summary.counters.drained.count).toBe(50);
    expect(report.summary.checks['snapshot sequences increase'].rate).toBe(1);
  });

  it('announces joins, leaves and resets to the room; rooms of 32 fill one by one', async () => {
    const { program, port } = await startArena(server);
    const a = await ArenaClient.join(port, 'alice');
    expect(a.welcome).toMatchObject({ room: 1, tickRate: 60, snapshotRate: 20, capacity: ROOM_CAPACITY, radius: PLAYER_RADIUS });
    expect(a.welcome.roster).toEqual([{ id: a.welcome.id, name: 'alice' }]);
    const b = await ArenaClient.join(port, 'bob');
    expect(b.welcome.room).toBe(1);
    expect(b.welcome.roster.map((p) => p.name)).toEqual(['alice', 'bob']);
    await a.client.next('joined', (m) => m.id === b.welcome.id && m.name === 'bob');

    // 30 more fill room 1 to 32; the 33rd opens room 2.
    const fillers = await Promise.all(Array.from({ length: 30 }, (_, i) => ArenaClient.join(port, `filler-${i}`)));
    expect(fillers.every((f) => f.welcome.room === 1)).toBe(true);
    const c = await ArenaClient.join(port, 'carol');
    expect(c.welcome.room).toBe(2);
    expect(c.welcome.roster.map((p) => p.name)).toEqual(['carol']);

    // bob says LEAVE: the room hears it, carol's room does not, and bob's connection ends in order.
    b.client.leave();
    await a.client.next('left', (m) => m.id === b.welcome.id);
    await b.client.until(() => b.client.ended && b.client.closed, 'the close after LEAVE');
    expect(b.client.hadError).toBe(false);
    // The free place goes to the next joiner: room 1 before room 2.
    const d = await ArenaClient.join(port, 'dave');
    expect(d.welcome.room).toBe(1);
    await a.client.next('joined', (m) => m.name === 'dave');

    // A filler vanishes without LEAVE: a reset, with the transport's reason.
    fillers[0].client.socket.destroy();
    await a.client.next('reset', (m) => m.id === fillers[0].welcome.id && m.reason === 'closed-by-peer');
    // A malformed message: REJECTED to the sender, a protocol-error reset to its room.
    fillers[1].client.sendRaw(Uint8Array.of(99, 1, 2));
    await fillers[1].client.next('rejected', (m) => m.reason === 'malformed message');
    await a.client.next('reset', (m) => m.id === fillers[1].welcome.id && m.reason === 'protocol-error');
    // Snapshots of room 1 list exactly its players.
    const ids = new Set([a.welcome.id, d.welcome.id, ...fillers.slice(2).map((f) => f.welcome.id)]);
    const snap = await a.client.next('snapshot', (m) => m.snapshot.rows.length === ids.size);
    expect(new Set(snap.snapshot.rows.map((r) => r.id))).toEqual(ids);
    expect(c.client.all('left').length + c.client.all('reset').length + c.client.all('joined').length).toBe(0);
    expect(await terminateTwice(program)).toEqual({ code: 0, signal: null });
  });

  it('snapshots match a second simulation fed the journal of the same inputs', async () => {
    const journalFile = join(tmp, `journal-${server.file.includes('plain') ? 'plain' : 'ringwire'}.jsonl`);
    const { program, port } = await startArena(server, ['--journal', journalFile]);
    const players: ArenaClient[] = [];
    for (let i = 0; i < 6; i++) players.push((await ArenaClient.join(port, `p${i}`)).client);
    // Player 0 runs into the right wall and stays; the others chase it and collide there.
    const seqs = players.map(() => 0);
    const steer = (): void => {
      const leader = players[0].lastSnapshot()?.rows.find((r) => r.id === 1);
      players.forEach((client, i) => {
        if (client.closed || client.socket.writableEnded) return;
        const me = client.lastSnapshot()?.rows.find((r) => r.lastInput >= 0 && r.id === i + 1);
        let dx = 1;
        let dy = 0;
        if (i > 0 && leader !== undefined && me !== undefined) {
          dx = Math.sign(leader.x - me.x);
          dy = Math.sign(leader.y - me.y);
        }
        client.input(++seqs[i], dx, dy);
      });
    };
    const steering = setInterval(steer, 33);
    try {
      await players[0].until(() => (players[0].lastSnapshot()?.tick ?? 0) > 60, 'a second of snapshots');
      players[3].leave();
      await players[1].next('left', (m) => m.id === 4);
      players[5].socket.destroy();
      await players[1].next('reset', (m) => m.id === 6);
      players.push((await ArenaClient.join(port, 'late')).client);
      seqs.push(0);
      await players[0].until(() => (players[0].lastSnapshot()?.tick ?? 0) > 150, 'more snapshots');
    } finally {
      clearInterval(steering);
    }
    expect(await terminateTwice(program)).toEqual({ code: 0, signal: null });

    const entries = readFileSync(journalFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as JournalEntry);
    const received = players.flatMap((client) => client.all('snapshot').map((m) => m.snapshot));
    const lastTick = new Map([[1, Math.max(...received.map((s) => s.tick))]]);
    const states = replay(entries, lastTick).get(1)!;
    let compared = 0;
    for (const snapshot of received) {
      expect(snapshot.rows).toEqual(states.get(snapshot.tick));
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
    // The journal's inputs are what each client sent, in order (a prefix: the drain ends the last ones).
    players.forEach((client, i) => {
      const id = i === 6 ? 7 : i + 1;
      const applied = entries.filter((e): e is Extract<JournalEntry, ['input', ...unknown[]]> => e[0] === 'input' && e[3] === id).map((e) => [e[4], e[5], e[6]]);
      expect(applied.length).toBeGreaterThan(0);
      expect(applied).toEqual(client.inputs.slice(0, applied.length));
    });
    // The walls and the collisions were exercised: the leader at the right wall, someone touching it.
    const final = received.filter((s) => (s.flags & SNAPSHOT_FINAL) !== 0).at(-1)!;
    const leader = final.rows.find((r) => r.id === 1)!;
    expect(leader.x).toBe(Math.fround(800 - PLAYER_RADIUS));
    const touching = final.rows.some((r) => r.id !== 1 && Math.hypot(r.x - leader.x, r.y - leader.y) < 2 * PLAYER_RADIUS + 0.5);
    expect(touching).toBe(true);
    // Every client saw its room's snapshot sequence rise by one each time.
    for (const client of players) {
      const seqList = client.all('snapshot').map((m) => m.snapshot.seq);
      for (let k = 1; k < seqList.length; k++) expect(seqList[k]).toBe(seqList[k - 1] + 1);
    }
  });

  it('drains on SIGTERM (sent again and again): every player gets SHUTDOWN, its room\'s final snapshot, then an orderly close; exit 0', async () => {
    const { program, port } = await startArena(server);
    const players = await Promise.all(Array.from({ length: 40 }, (_, i) => ArenaClient.join(port, `p${i}`)));
    const idle = await ArenaClient.connect(port); // connected, never joined
    await Promise.all(players.map((p) => p.client.next('snapshot')));
    players.forEach((p, i) => p.client.input(1, i % 3 - 1, 1));
    expect(await terminateTwice(program)).toEqual({ code: 0, signal: null });
    expect(program.stdout.some((line) => /^SIGTERM while draining \(SIGTERM\): ignored/.test(line))).toBe(true);
    for (const { client, welcome } of players) {
      await client.until(() => client.closed, 'the close');
      expect(client.ended).toBe(true);
      expect(client.hadError).toBe(false);
      const types = client.messages.map((m) => m.type);
      const shutdownAt = types.indexOf('shutdown');
      expect(shutdownAt).toBeGreaterThan(0);
      // After SHUTDOWN: exactly one more message, the final snapshot, with this player's row.
      expect(types.slice(shutdownAt + 1)).toEqual(['snapshot']);
      const last = client.lastSnapshot()!;
      expect(last.flags & SNAPSHOT_FINAL).toBe(SNAPSHOT_FINAL);
      expect(last.rows.some((r) => r.id === welcome.id)).toBe(true);
      const seqList = client.all('snapshot').map((m) => m.snapshot.seq);
      for (let k = 1; k < seqList.length; k++) expect(seqList[k]).toBeGreaterThan(seqList[k - 1]);
    }
    await idle.until(() => idle.closed, 'the idle client\'s close');
    expect(idle.ended).toBe(true);
    expect(idle.messages.map((m) => m.type)).toEqual(['shutdown']);
  });
});

describe('the arena: --processes 2', () => {
  it('puts two processes on one port, each with its own rooms, and drains both on SIGTERM', async () => {
    const program = startProgram('arena/arena-ringwire-server.ts', ['--host', '127.0.0.1', '--port', '0', '--shards', '1', '--processes', '2']);
    const first = await program.waitForLine(/^\[p1\] arena server \(.* on 127\.0\.0\.1:(\d+)\) pid \d+$/, START_DEADLINE_MS);
    const port = Number(first[1]);
    await program.waitForLine(new RegExp(`^\\[p2\\] arena server \\(.* on 127\\.0\\.0\\.1:${port}\\) pid \\d+$`), START_DEADLINE_MS);
    const players = await Promise.all(Array.from({ length: 40 }, (_, i) => ArenaClient.join(port, `p${i}`)));
    // Player ids count from 1 in each process: with two processes, some ids come twice.
    const ids = players.map((p) => p.welcome.id);
    expect(new Set(ids).size).toBeLessThan(ids.length);
    // A room is a process's: its snapshots list only that process's players (ids unique in it).
    await Promise.all(players.map((p) => p.client.next('snapshot')));
    for (const { client } of players) {
      const rows = client.lastSnapshot()!.rows;
      expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
      expect(rows.length).toBeLessThan(40);
    }
    expect(await terminateTwice(program)).toEqual({ code: 0, signal: null });
    for (const { client } of players) {
      await client.until(() => client.closed, 'the close');
      expect(client.ended).toBe(true);
      expect(client.lastSnapshot()!.flags & SNAPSHOT_FINAL).toBe(SNAPSHOT_FINAL);
    }
    expect(program.stdout.filter((line) => /^\[p[12]\] arena stopped \(SIGTERM\)/.test(line)).length).toBe(2);
  });
});
