/**
 * The arena's simulation: players in a square room, each moving in the direction of their
 * last input, kept inside the walls, pushed apart when they overlap. No I/O, no clock, no
 * randomness: the same joins, inputs and leaves at the same ticks give the same positions,
 * bit for bit, so a second simulation fed a server's journal reproduces its snapshots
 * (test/examples/arena.test.ts does exactly that). Both servers, ringwire's and plain
 * node:net's, run this module; only their transports differ.
 */

/** Simulation steps per second. */
export const TICK_RATE = 60;
/** A snapshot every this many ticks: 60 / 3 = 20 Hz. */
export const SNAPSHOT_EVERY = 3;
/** Players a room holds. */
export const ROOM_CAPACITY = 32;
/** The room is [0, ARENA_SIZE] × [0, ARENA_SIZE], in world units. */
export const ARENA_SIZE = 800;
/** A player is a disc of this radius. */
export const PLAYER_RADIUS = 12;
/** World units per second while an input direction is held (diagonals are as fast). */
export const PLAYER_SPEED = 180;

/** One player in a room. */
export interface Player {
  readonly id: number;
  readonly name: string;
  x: number;
  y: number;
  /** The held direction, each -1, 0 or 1. */
  dirX: number;
  dirY: number;
  /** The sequence number of the last input applied (0: none yet). */
  lastInput: number;
}

/** Where player `id` appears: spread over the room by a hash of the id, so it is the same in every replay. */
export function spawnPoint(id: number): { x: number; y: number } {
  const h = Math.imul(id + 1, 0x9e3779b1) >>> 0;
  const span = ARENA_SIZE - 2 * PLAYER_RADIUS;
  return { x: PLAYER_RADIUS + ((h & 0xffff) / 0xffff) * span, y: PLAYER_RADIUS + ((h >>> 16) / 0xffff) * span };
}

/** One room's world. Players are kept in the order they joined (the collision order). */
export class RoomSimulation {
  readonly players: Player[] = [];
  /** Steps run since the room was made. */
  tick = 0;

  /** Adds a player at its spawn point and returns it. */
  addPlayer(id: number, name: string): Player {
    const { x, y } = spawnPoint(id);
    const player: Player = { id, name, x, y, dirX: 0, dirY: 0, lastInput: 0 };
    this.players.push(player);
    return player;
  }

  /** Removes a player; false when it is not in the room. */
  removePlayer(id: number): boolean {
    const index = this.players.findIndex((p) => p.id === id);
    if (index < 0) return false;
    this.players.splice(index, 1);
    return true;
  }

  /**
   * Holds a new direction from the next step on. Inputs with a sequence number at or below
   * the last one applied are stale (a client's resend, or a reordering) and ignored:
   * returns false for them. Directions are clamped to -1, 0, 1.
   */
  applyInput(player: Player, seq: number, dx: number, dy: number): boolean {
    if (seq <= player.lastInput) return false;
    player.lastInput = seq;
    player.dirX = Math.sign(dx);
    player.dirY = Math.sign(dy);
    return true;
  }

  /** One step of `dt` seconds: move, keep inside the walls, separate overlapping players. */
  step(dt: number): void {
    const players = this.players;
    const n = players.length;
    const min = PLAYER_RADIUS;
    const max = ARENA_SIZE - PLAYER_RADIUS;
    for (let i = 0; i < n; i++) {
      const p = players[i];
      if (p.dirX === 0 && p.dirY === 0) continue;
      const scale = p.dirX !== 0 && p.dirY !== 0 ? Math.SQRT1_2 : 1;
      p.x = clamp(p.x + p.dirX * scale * PLAYER_SPEED * dt, min, max);
      p.y = clamp(p.y + p.dirY * scale * PLAYER_SPEED * dt, min, max);
    }
    // One pass over the pairs, in join order: each overlapping pair is pushed apart half
    // the overlap each, along the line between their centres.
    const reach = 2 * PLAYER_RADIUS;
    for (let i = 0; i < n; i++) {
      const a = players[i];
      for (let j = i + 1; j < n; j++) {
        const b = players[j];
        const dx = b.x - a.x;
        const dy = b.y - a.y;
        const d2 = dx * dx + dy * dy;
        if (d2 >= reach * reach) continue;
        const d = Math.sqrt(d2);
        // On the same spot: part them along x, the earlier player to the left.
        const nx = d === 0 ? 1 : dx / d;
        const ny = d === 0 ? 0 : dy / d;
        const push = (reach - d) / 2;
        a.x = clamp(a.x - nx * push, min, max);
        a.y = clamp(a.y - ny * push, min, max);
        b.x = clamp(b.x + nx * push, min, max);
        b.y = clamp(b.y + ny * push, min, max);
      }
    }
    this.tick++;
  }
}

function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}
