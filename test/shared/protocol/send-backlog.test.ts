import { describe, expect, it } from 'vitest';
import { BACKLOG_SLOTS, BacklogSlots, QUEUED, SlotState, TAKEN, createSendBacklog, slotStates } from '../../../src/shared/protocol/send-backlog.js';

describe('send-backlog slots', () => {
  it('a slot given back goes to another connection only once its shard has retired it, zeroed', () => {
    const table = createSendBacklog();
    const states = slotStates(table);
    const slots = new BacklogSlots(table);
    const a = slots.take();
    const b = slots.take();
    expect([a, b]).toEqual([0, 1]);
    table[a * 2 + TAKEN] = 4096; // the shard published for the connection in slot a
    table[a * 2 + QUEUED] = 512;
    slots.give(a); // the main thread took its CLOSED: it reads the slot no more
    // Fresh slots go first; then a given-back slot only once its shard has retired it.
    for (let i = 2; i < BACKLOG_SLOTS; i++) expect(slots.take()).toBe(i);
    // The shard has not retired it (it may still publish, say for a half-closed peer).
    expect(slots.take()).toBe(-1);
    Atomics.store(states, a, SlotState.RETIRED); // its RELEASE, or the connection left the shard
    expect(slots.take()).toBe(a);
    expect([table[a * 2 + TAKEN], table[a * 2 + QUEUED]]).toEqual([0, 0]);
    expect(Atomics.load(states, a)).toBe(SlotState.LIVE);
    slots.give(-1); // a connection without a slot: nothing to give back
    expect(slots.take()).toBe(-1);
  });

  it('counts a retired slot as available when every fresh slot is used (65,536 connections over a shard\'s life)', () => {
    const table = createSendBacklog();
    const slots = new BacklogSlots(table);
    for (let i = 0; i < BACKLOG_SLOTS; i++) slots.give(slots.take());
    expect(slots.available()).toBe(false); // given back, not retired
    Atomics.store(slotStates(table), 7, SlotState.RETIRED);
    expect(slots.available()).toBe(true);
    expect(slots.take()).toBe(7);
  });
});
