// The arena's simulation alone: movement, walls, collisions, stale inputs, determinism.
import { describe, expect, it } from 'vitest';
import { ARENA_SIZE, PLAYER_RADIUS, PLAYER_SPEED, RoomSimulation, spawnPoint } from '../../examples/arena/arena-simulation.js';

const DT = 1 / 60;

describe('RoomSimulation', () => {
  it('moves a player at PLAYER_SPEED in its held direction, diagonals as fast, from its spawn point', () => {
    const sim = new RoomSimulation();
    const p = sim.addPlayer(6, 'p'); // spawns near the middle (266, 265)
    expect({ x: p.x, y: p.y }).toEqual(spawnPoint(6));
    const start = { x: p.x, y: p.y };
    sim.applyInput(p, 1, 1, 0);
    for (let i = 0; i < 30; i++) sim.step(DT);
    expect(p.x - start.x).toBeCloseTo(PLAYER_SPEED * 0.5, 9);
    expect(p.y).toBe(start.y);
    sim.applyInput(p, 2, -1, 1);
    const mid = { x: p.x, y: p.y };
    for (let i = 0; i < 30; i++) sim.step(DT);
    expect(Math.hypot(p.x - mid.x, p.y - mid.y)).toBeCloseTo(PLAYER_SPEED * 0.5, 9);
    expect(sim.tick).toBe(60);
  });

  it('keeps players inside the walls', () => {
    const sim = new RoomSimulation();
    const p = sim.addPlayer(1, 'p');
    sim.applyInput(p, 1, 1, -1);
    for (let i = 0; i < 60 * 10; i++) sim.step(DT);
    expect(p.x).toBe(ARENA_SIZE - PLAYER_RADIUS);
    expect(p.y).toBe(PLAYER_RADIUS);
  });

  it('pushes overlapping players apart to touching, along the line between them; on one spot, along x', () => {
    const sim = new RoomSimulation();
    const a = sim.addPlayer(1, 'a');
    const b = sim.addPlayer(2, 'b');
    a.x = 400;
    a.y = 400;
    b.x = 410;
    b.y = 400;
    sim.step(DT);
    expect(b.x - a.x).toBeCloseTo(2 * PLAYER_RADIUS, 9);
    expect((a.x + b.x) / 2).toBeCloseTo(405, 9);
    b.x = a.x;
    b.y = a.y;
    sim.step(DT);
    expect(b.x - a.x).toBeCloseTo(2 * PLAYER_RADIUS, 9);
    expect(b.y).toBe(a.y);
  });

  it('ignores stale inputs and clamps directions', () => {
    const sim = new RoomSimulation();
    const p = sim.addPlayer(1, 'p');
    expect(sim.applyInput(p, 5, 1, 0)).toBe(true);
    expect(sim.applyInput(p, 5, -1, 0)).toBe(false);
    expect(sim.applyInput(p, 4, -1, 0)).toBe(false);
    expect([p.dirX, p.dirY, p.lastInput]).toEqual([1, 0, 5]);
    expect(sim.applyInput(p, 6, 7, -3)).toBe(true);
    expect([p.dirX, p.dirY]).toEqual([1, -1]);
  });

  it('is deterministic: the same joins and inputs at the same ticks give the same positions, bit for bit', () => {
    const run = (): number[] => {
      const sim = new RoomSimulation();
      const players = Array.from({ length: 32 }, (_, i) => sim.addPlayer(i + 1, `p${i}`));
      let seed = 12345;
      for (let t = 0; t < 600; t++) {
        for (const p of players) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          if (seed % 10 === 0) sim.applyInput(p, p.lastInput + 1, ((seed >>> 8) % 3) - 1, ((seed >>> 12) % 3) - 1);
        }
        sim.step(DT);
      }
      return players.flatMap((p) => [p.x, p.y]);
    };
    expect(run()).toEqual(run());
  });
});
