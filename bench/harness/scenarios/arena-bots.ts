// Bots for the arena (examples/arena): each joins with a name, sends an input (a sequence
// number and a direction) 30 times a second, and reads the room's snapshots, 20 a second.
//
//   npm run arena -- --port 9200 &                                  # or npm run arena:plain
//   npm run bench -- run bench/harness/scenarios/arena-bots.ts --port 9200 -c 200 -d 30s
//
// What it measures:
//   input_to_state  ms from sending input n to the first snapshot whose row for this bot
//                   acknowledges n or later (the server's last applied input sequence)
//   snapshot_gap    ms between two snapshots
//   snapshot_bytes  snapshot bytes received (per second in the table; bytes_received has all)
// and it checks that each room's snapshot sequence numbers increase, that every snapshot
// has the bot's own row, and, when the server drains, that the bot got SHUTDOWN and its
// room's final snapshot before the server closed the connection.
//
// The file is self-contained (it imports only ringwire and ringwire-bench), so agents can
// run it; the message numbers and fields are examples/arena/README.md's.
import { PyDatagram } from 'ringwire';
import { defineScenario } from 'ringwire-bench';

const JOIN = 1;
const INPUT = 2;
const WELCOME = 10;
const PLAYER_JOINED = 11;
const PLAYER_LEFT = 12;
const PLAYER_RESET = 13;
const SNAPSHOT = 14;
const SHUTDOWN = 15;
const REJECTED = 16;
const FINAL = 1;
/** Size of a snapshot row: u32 id, f32 x, f32 y, u32 last input. */
const ROW = 16;

const INPUT_HZ = 30;
/** Send times of the inputs not yet acknowledged, by sequence number modulo this. */
const SENT_SLOTS = 4096;

export default defineScenario({
  options: {
    bots: 50,
    duration: '30s',
    warmup: '2s',
    thresholds: {
      // The bench's limit; a snapshot's wait (up to 50 ms) and a step's (up to 17 ms) are in it.
      input_to_state: ['p(99) < 100', 'p(50) < 50'],
      // Snapshots come every 50 ms: at most 1 in 100 more than two intervals late.
      snapshot_gap: ['p(50) < 60', 'p(99) < 150'],
      checks: ['rate == 1'],
      errors: ['count == 0'],
    },
  },
  async bot(b) {
    await b.connect();
    let myId = -1;
    let seq = 0;
    let acked = 0;
    let lastSnapshotSeq = 0;
    let lastSnapshotAt = -1;
    let sawShutdown = false;
    let sawFinal = false;
    const sentAt = new Float64Array(SENT_SLOTS);
    // A direction that changes about once a second, from a generator seeded by the bot's id.
    let rng = (b.id * 2654435761 + 1) >>> 0;
    let dx = 0;
    let dy = 0;
    const input = new PyDatagram();

    const join = new PyDatagram();
    join.addUint8(JOIN);
    join.addString(`bot-${b.id}`);
    b.send(join);

    b.onDatagram((it, dg) => {
      const type = it.getUint8();
      if (type === SNAPSHOT) {
        const now = b.now();
        const snapshotSeq = it.getUint32();
        it.getUint32(); // the room's tick
        const flags = it.getUint8();
        const n = it.getUint8();
        b.counter('snapshot_bytes').add(dg.getLength());
        b.check(snapshotSeq > lastSnapshotSeq, 'snapshot sequences increase');
        lastSnapshotSeq = snapshotSeq;
        if (lastSnapshotAt >= 0) b.trend('snapshot_gap').add(now - lastSnapshotAt);
        lastSnapshotAt = now;
        if ((flags & FINAL) !== 0) sawFinal = true;
        // Our row: its last field is the last input the server applied.
        let ack = -1;
        for (let i = 0; i < n; i++) {
          if (it.getUint32() === myId) {
            it.skipBytes(8);
            ack = it.getUint32();
            break;
          }
          it.skipBytes(ROW - 4);
        }
        b.check(ack >= 0, 'own row in every snapshot');
        for (let s = acked + 1; s <= ack && s <= seq; s++) b.trend('input_to_state').add(now - sentAt[s % SENT_SLOTS]);
        if (ack > acked) acked = ack;
      } else if (type === WELCOME) {
        myId = it.getUint32();
        b.every(1000 / INPUT_HZ, () => {
          rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
          if (rng % INPUT_HZ === 0) {
            dx = ((rng >>> 8) % 3) - 1;
            dy = ((rng >>> 12) % 3) - 1;
          }
          seq++;
          input.clear();
          input.addUint8(INPUT);
          input.addUint32(seq);
          input.addInt8(dx);
          input.addInt8(dy);
          sentAt[seq % SENT_SLOTS] = b.now();
          b.send(input);
        });
      } else if (type === PLAYER_JOINED) {
        b.counter('announced_joins').add(1);
      } else if (type === PLAYER_LEFT) {
        b.counter('announced_leaves').add(1);
      } else if (type === PLAYER_RESET) {
        b.counter('announced_resets').add(1);
      } else if (type === SHUTDOWN) {
        sawShutdown = true;
      } else if (type === REJECTED) {
        b.check(false, `not rejected (${it.getString()})`);
      }
    });
    b.onClose((reason) => {
      // The server closes only when it drains: SHUTDOWN, the final snapshot, then an orderly close.
      const orderly = myId >= 0 && sawShutdown && sawFinal && reason === 'closed-by-peer';
      b.check(orderly, 'drain: SHUTDOWN and the final snapshot, then an orderly close');
      if (orderly) b.counter('drained').add(1);
    });
  },
});
