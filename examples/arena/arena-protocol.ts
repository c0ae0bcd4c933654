/**
 * The arena's wire protocol: every message is one Panda3D datagram (on TCP, after
 * Panda's 2-byte little-endian length header), starting with a u8 message type. Fields are
 * little-endian; a string is Panda's `addString` (u16 byte length, then UTF-8). The
 * README beside this file has the same tables, for a client in any language.
 *
 * Both servers and the bots encode and decode with these functions; decoding never
 * throws for a peer's bytes: a malformed message decodes to null.
 */
import { Datagram, DatagramIterator } from 'ringwire';
import { ARENA_SIZE, PLAYER_RADIUS, ROOM_CAPACITY, SNAPSHOT_EVERY, TICK_RATE, type Player } from './arena-simulation.js';

/** Client → server. */
export const MSG_JOIN = 1;
export const MSG_INPUT = 2;
export const MSG_LEAVE = 3;
/** Server → client. */
export const MSG_WELCOME = 10;
export const MSG_PLAYER_JOINED = 11;
export const MSG_PLAYER_LEFT = 12;
export const MSG_PLAYER_RESET = 13;
export const MSG_SNAPSHOT = 14;
export const MSG_SHUTDOWN = 15;
export const MSG_REJECTED = 16;

/** SNAPSHOT flag: the server is draining and this is the room's last snapshot. */
export const SNAPSHOT_FINAL = 1;
/** Longest name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 32;
/** Longest message a client sends (a JOIN with the longest name); the servers refuse larger. */
export const MAX_CLIENT_MESSAGE = 1 + 2 + MAX_NAME_BYTES;

// ── client → server ─────────────────────────────────────────────────────────

/** JOIN: string name. */
export function writeJoin(dg: Datagram, name: string): void {
  dg.clear();
  dg.addUint8(MSG_JOIN);
  dg.addString(name);
}

/** INPUT: u32 sequence (from 1, increasing), i8 dx, i8 dy (each -1, 0 or 1). */
export function writeInput(dg: Datagram, seq: number, dx: number, dy: number): void {
  dg.clear();
  dg.addUint8(MSG_INPUT);
  dg.addUint32(seq);
  dg.addInt8(dx);
  dg.addInt8(dy);
}

/** LEAVE: no fields. The server announces the leave and closes the connection. */
export function writeLeave(dg: Datagram): void {
  dg.clear();
  dg.addUint8(MSG_LEAVE);
}

/** A client message, decoded into one reused object (no allocation per input). */
export interface ClientMessage {
  type: number;
  name: string;
  seq: number;
  dx: number;
  dy: number;
}

export function newClientMessage(): ClientMessage {
  return { type: 0, name: '', seq: 0, dx: 0, dy: 0 };
}

/**
 * Decodes the message at `it` into `out`. Returns false for a malformed one (unknown type,
 * short, trailing bytes, a name empty or too long); never throws for a peer's bytes.
 */
export function readClientMessage(it: DatagramIterator, out: ClientMessage): boolean {
  const size = it.getRemainingSize();
  if (size < 1) return false;
  out.type = it.getUint8();
  switch (out.type) {
    case MSG_INPUT:
      if (size !== 7) return false;
      out.seq = it.getUint32();
      out.dx = it.getInt8();
      out.dy = it.getInt8();
      return out.seq > 0 && Math.abs(out.dx) <= 1 && Math.abs(out.dy) <= 1;
    case MSG_JOIN: {
      if (size < 3 || size > MAX_CLIENT_MESSAGE) return false;
      const view = it.getDatagram().getMessageView();
      const length = view[it.getCurrentIndex()] | (view[it.getCurrentIndex() + 1] << 8);
      if (length === 0 || length !== size - 3) return false;
      out.name = it.getString();
      return out.name.trim() !== '';
    }
    case MSG_LEAVE:
      return size === 1;
    default:
      return false;
  }
}

// ── server → client ─────────────────────────────────────────────────────────

/**
 * WELCOME: u32 your player id, u32 room id, u16 tick rate, u16 snapshot rate,
 * f32 arena size, f32 player radius, u8 room capacity, u8 n, then n × (u32 id, string name):
 * the room's players, you included, in join order.
 */
export function writeWelcome(dg: Datagram, playerId: number, roomId: number, players: readonly Player[]): void {
  dg.clear();
  dg.addUint8(MSG_WELCOME);
  dg.addUint32(playerId);
  dg.addUint32(roomId);
  dg.addUint16(TICK_RATE);
  dg.addUint16(TICK_RATE / SNAPSHOT_EVERY);
  dg.addFloat32(ARENA_SIZE);
  dg.addFloat32(PLAYER_RADIUS);
  dg.addUint8(ROOM_CAPACITY);
  dg.addUint8(players.length);
  for (const p of players) {
    dg.addUint32(p.id);
    dg.addString(p.name);
  }
}

/** PLAYER_JOINED: u32 id, string name (to the room's other players). */
export function writePlayerJoined(dg: Datagram, id: number, name: string): void {
  dg.clear();
  dg.addUint8(MSG_PLAYER_JOINED);
  dg.addUint32(id);
  dg.addString(name);
}

/** PLAYER_LEFT: u32 id (the player said LEAVE). */
export function writePlayerLeft(dg: Datagram, id: number): void {
  dg.clear();
  dg.addUint8(MSG_PLAYER_LEFT);
  dg.addUint32(id);
}

/**
 * PLAYER_RESET: u32 id, string reason: the player's connection ended without a LEAVE
 * (ringwire's reset reasons: closed-by-peer, idle-timeout, slow-consumer, oversized-datagram, error;
 * the servers add protocol-error for a malformed message).
 */
export function writePlayerReset(dg: Datagram, id: number, reason: string): void {
  dg.clear();
  dg.addUint8(MSG_PLAYER_RESET);
  dg.addUint32(id);
  dg.addString(reason);
}

/**
 * SNAPSHOT: u32 snapshot sequence (per room, from 1, +1 each), u32 room tick, u8 flags
 * (bit 0: final), u8 n, then n × (u32 id, f32 x, f32 y, u32 last input sequence applied).
 * One datagram for the whole room, broadcast: each client finds its own row for its ack.
 */
export function writeSnapshot(dg: Datagram, seq: number, tick: number, flags: number, players: readonly Player[]): void {
  dg.clear();
  dg.addUint8(MSG_SNAPSHOT);
  dg.addUint32(seq);
  dg.addUint32(tick);
  dg.addUint8(flags);
  dg.addUint8(players.length);
  for (let i = 0; i < players.length; i++) {
    const p = players[i];
    dg.addUint32(p.id);
    dg.addFloat32(p.x);
    dg.addFloat32(p.y);
    dg.addUint32(p.lastInput);
  }
}

/** SHUTDOWN: string reason. The server is draining: the room's final snapshot follows, then the server closes. */
export function writeShutdown(dg: Datagram, reason: string): void {
  dg.clear();
  dg.addUint8(MSG_SHUTDOWN);
  dg.addString(reason);
}

/** REJECTED: string reason (a malformed message, a second JOIN, input before JOIN, a draining server); the server closes after it. */
export function writeRejected(dg: Datagram, reason: string): void {
  dg.clear();
  dg.addUint8(MSG_REJECTED);
  dg.addString(reason);
}

/** A snapshot as a client reads it (tests and tools; the bots read rows in place). */
export interface Snapshot {
  seq: number;
  tick: number;
  flags: number;
  rows: { id: number; x: number; y: number; lastInput: number }[];
}

/** Reads a SNAPSHOT's fields after its type byte. */
export function readSnapshotBody(it: DatagramIterator): Snapshot {
  const seq = it.getUint32();
  const tick = it.getUint32();
  const flags = it.getUint8();
  const n = it.getUint8();
  const rows: Snapshot['rows'] = [];
  for (let i = 0; i < n; i++) rows.push({ id: it.getUint32(), x: it.getFloat32(), y: it.getFloat32(), lastInput: it.getUint32() });
  return { seq, tick, flags, rows };
}
