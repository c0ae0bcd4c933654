/**
 * The arena's server logic, whatever carries the bytes: clients join with a name and are
 * placed in rooms of up to ROOM_CAPACITY that fill one by one; their inputs steer their
 * player; every room steps at TICK_RATE and broadcasts a snapshot every SNAPSHOT_EVERY
 * ticks to its group; joins, leaves and resets are announced to the room; a drain tells
 * everyone, sends each room's final snapshot, and leaves the closing to the transport.
 *
 * The transport (ringwire's in arena-ringwire-server.ts, node:net's in
 * arena-plain-server.ts) hands in connections, messages and ends, and carries out sends,
 * broadcasts to a group and closes. `C` is its connection, `G` its group of connections.
 *
 * Per-connection state is a Map from the transport's connection object to the client:
 * ringwire hands out one Connection object per connection (the listener's, the one
 * getData's datagram names and the reset queue's are the same object), so it is a key.
 */
import { Datagram, type DatagramIterator } from 'ringwire';
import {
  SNAPSHOT_FINAL,
  newClientMessage,
  readClientMessage,
  writePlayerJoined,
  writePlayerLeft,
  writePlayerReset,
  writeRejected,
  writeShutdown,
  writeSnapshot,
  writeWelcome,
  MSG_INPUT,
  MSG_JOIN,
  MSG_LEAVE,
} from './arena-protocol.js';
import { ROOM_CAPACITY, RoomSimulation, SNAPSHOT_EVERY, type Player } from './arena-simulation.js';

/** What the game needs from a transport. */
export interface ArenaTransport<C, G> {
  /** Queues `dg` to one client; the datagram may be reused as soon as this returns. */
  send(dg: Datagram, client: C): void;
  /** Queues `dg` to every client of `group`, the bytes framed once; reusable at return, as send's. */
  broadcast(dg: Datagram, group: G): void;
  newGroup(): G;
  addToGroup(group: G, client: C): void;
  removeFromGroup(group: G, client: C): void;
  /** Writes what was sent to the client, then closes it. No end is reported for it afterwards. */
  close(client: C): void;
}

/** One line of the journal: what happened to a room, and at which of its ticks (before that tick's step). */
export type JournalEntry =
  | ['join', room: number, tick: number, id: number, name: string]
  | ['input', room: number, tick: number, id: number, seq: number, dx: number, dy: number]
  | ['leave', room: number, tick: number, id: number]
  | ['reset', room: number, tick: number, id: number];

export interface Room<G> {
  readonly id: number;
  readonly sim: RoomSimulation;
  readonly group: G;
  /** The last snapshot's sequence number (0: none sent yet). */
  snapshotSeq: number;
}

interface Client<G> {
  player: Player | null;
  room: Room<G> | null;
}

/** Counters since the server started. */
export interface ArenaCounts {
  joins: number;
  leaves: number;
  resets: number;
  rejected: number;
  inputs: number;
  staleInputs: number;
  snapshots: number;
}

export class ArenaGame<C, G> {
  readonly rooms: Room<G>[] = [];
  readonly counts: ArenaCounts = { joins: 0, leaves: 0, resets: 0, rejected: 0, inputs: 0, staleInputs: 0, snapshots: 0 };
  private readonly clients = new Map<C, Client<G>>();
  /** One datagram for every message the server sends: reusable once send or broadcast returns. */
  private readonly out = new Datagram();
  private readonly message = newClientMessage();
  private nextPlayerId = 1;
  private playerCount = 0;
  private draining = false;

  constructor(
    private readonly transport: ArenaTransport<C, G>,
    /** Called for each event that changes a room (for a replay); null: no journal. */
    private readonly journal: ((entry: JournalEntry) => void) | null = null,
  ) {}

  /** Players in rooms now. */
  get players(): number {
    return this.playerCount;
  }

  /** Connections known (joined or not). */
  get connections(): number {
    return this.clients.size;
  }

  /** Rooms with at least one player. */
  get activeRooms(): number {
    let n = 0;
    for (const room of this.rooms) if (room.sim.players.length > 0) n++;
    return n;
  }

  /** A new connection: it may JOIN. */
  onConnect(conn: C): void {
    this.clients.set(conn, { player: null, room: null });
  }

  /** One message from `conn`, the iterator at its start. */
  onMessage(conn: C, it: DatagramIterator): void {
    const client = this.clients.get(conn);
    if (client === undefined) return; // closed by us a moment ago
    const msg = this.message;
    if (!readClientMessage(it, msg)) return this.reject(conn, client, 'malformed message');
    if (msg.type === MSG_INPUT) {
      const player = client.player;
      if (player === null) return this.reject(conn, client, 'input before join');
      const room = client.room!;
      if (room.sim.applyInput(player, msg.seq, msg.dx, msg.dy)) {
        this.counts.inputs++;
        this.journal?.(['input', room.id, room.sim.tick, player.id, msg.seq, msg.dx, msg.dy]);
      } else {
        this.counts.staleInputs++;
      }
    } else if (msg.type === MSG_JOIN) {
      if (client.player !== null) return this.reject(conn, client, 'already joined');
      if (this.draining) return this.reject(conn, client, 'the server is shutting down');
      this.join(conn, client, msg.name);
    } else if (msg.type === MSG_LEAVE) {
      const { player, room } = client;
      this.clients.delete(conn);
      if (player !== null && room !== null) {
        this.removePlayer(conn, player, room);
        this.counts.leaves++;
        this.journal?.(['leave', room.id, room.sim.tick, player.id]);
        writePlayerLeft(this.out, player.id);
        this.transport.broadcast(this.out, room.group);
      }
      this.transport.close(conn);
    }
  }

  /** `conn` ended without a LEAVE (the transport's reason: closed-by-peer, idle-timeout, …). */
  onReset(conn: C, reason: string): void {
    const client = this.clients.get(conn);
    if (client === undefined) return;
    this.clients.delete(conn);
    this.dropPlayer(conn, client, reason);
  }

  /** One simulation step of every room with players; a snapshot to each room every SNAPSHOT_EVERY ticks. */
  tick(dt: number): void {
    for (const room of this.rooms) {
      if (room.sim.players.length === 0) continue;
      room.sim.step(dt);
      if (room.sim.tick % SNAPSHOT_EVERY === 0) this.snapshot(room, 0);
    }
  }

  /**
   * The drain: a last step of every room (with the inputs taken since the last one), then
   * SHUTDOWN and the room's final snapshot to its players, and SHUTDOWN to connections that
   * never joined. Later JOINs are rejected. The transport then flushes and closes.
   */
  drain(dt: number, reason: string): void {
    this.draining = true;
    for (const room of this.rooms) {
      if (room.sim.players.length === 0) continue;
      room.sim.step(dt);
      writeShutdown(this.out, reason);
      this.transport.broadcast(this.out, room.group);
      this.snapshot(room, SNAPSHOT_FINAL);
    }
    writeShutdown(this.out, reason);
    for (const [conn, client] of this.clients) if (client.player === null) this.transport.send(this.out, conn);
  }

  // ── internals ─────────────────────────────────────────────────────────────

  private join(conn: C, client: Client<G>, name: string): void {
    // Rooms fill one by one: the first with a free place, else a new one.
    let room = this.rooms.find((r) => r.sim.players.length < ROOM_CAPACITY);
    if (room === undefined) {
      room = { id: this.rooms.length + 1, sim: new RoomSimulation(), group: this.transport.newGroup(), snapshotSeq: 0 };
      this.rooms.push(room);
    }
    const id = this.nextPlayerId++;
    // Told before they are in the group: the others hear of the newcomer, the newcomer gets the roster.
    writePlayerJoined(this.out, id, name);
    this.transport.broadcast(this.out, room.group);
    const player = room.sim.addPlayer(id, name);
    client.player = player;
    client.room = room;
    this.playerCount++;
    this.counts.joins++;
    this.journal?.(['join', room.id, room.sim.tick, id, name]);
    writeWelcome(this.out, id, room.id, room.sim.players);
    this.transport.send(this.out, conn);
    this.transport.addToGroup(room.group, conn);
  }

  private removePlayer(conn: C, player: Player, room: Room<G>): void {
    room.sim.removePlayer(player.id);
    this.transport.removeFromGroup(room.group, conn);
    this.playerCount--;
  }

  private dropPlayer(conn: C, client: Client<G>, reason: string): void {
    const { player, room } = client;
    if (player === null || room === null) return;
    this.removePlayer(conn, player, room);
    this.counts.resets++;
    this.journal?.(['reset', room.id, room.sim.tick, player.id]);
    writePlayerReset(this.out, player.id, reason);
    this.transport.broadcast(this.out, room.group);
  }

  /** REJECTED to `conn`, which is then closed; a player in a room is announced as reset (protocol-error). */
  private reject(conn: C, client: Client<G>, reason: string): void {
    this.counts.rejected++;
    this.clients.delete(conn);
    this.dropPlayer(conn, client, 'protocol-error');
    writeRejected(this.out, reason);
    this.transport.send(this.out, conn);
    this.transport.close(conn);
  }

  private snapshot(room: Room<G>, flags: number): void {
    room.snapshotSeq++;
    writeSnapshot(this.out, room.snapshotSeq, room.sim.tick, flags, room.sim.players);
    this.transport.broadcast(this.out, room.group);
    this.counts.snapshots++;
  }
}
