/**
 * A shard's run is one state (issue #24, point 3): every transition of the diagram in
 * shard-state.ts, and the events that mean nothing in a state leave it where it is.
 */
import { describe, expect, it } from 'vitest';
import { ShardEvent, ShardState, acceptsRecords, hasEnded, nextShardState } from '../../../src/main/shards/shard-state.js';

const { IDLE, RUNNING, PARKED, STOPPING, STOPPED, FAILED } = ShardState;
const E = ShardEvent;

describe('ShardState', () => {
  it('follows the diagram', () => {
    const table: [ShardState, ShardEvent, ShardState][] = [
      [IDLE, E.START, RUNNING],
      [RUNNING, E.RUN_ENDED, PARKED],
      [RUNNING, E.RUN_ENDED_WITH_WORK, PARKED],
      [PARKED, E.START, RUNNING],
      [RUNNING, E.CLOSE, STOPPING],
      [STOPPING, E.RUN_ENDED_WITH_WORK, STOPPING],
      [STOPPING, E.RUN_ENDED, STOPPED],
      [IDLE, E.CLOSE, STOPPED],
      [PARKED, E.CLOSE, STOPPED],
      [IDLE, E.FAIL, FAILED],
      [RUNNING, E.FAIL, FAILED],
      [PARKED, E.FAIL, FAILED],
      [STOPPING, E.FAIL, FAILED],
      [RUNNING, E.DISPOSE, STOPPED],
      [FAILED, E.DISPOSE, FAILED],
    ];
    for (const [from, event, to] of table) expect(nextShardState(from, event), `${from} --${event}-->`).toBe(to);
  });

  it('an event that means nothing in a state leaves it there', () => {
    expect(nextShardState(STOPPING, E.START)).toBe(STOPPING); // a record for a stopping shard does not start a run
    expect(nextShardState(STOPPED, E.START)).toBe(STOPPED);
    expect(nextShardState(FAILED, E.START)).toBe(FAILED);
    expect(nextShardState(STOPPING, E.CLOSE)).toBe(STOPPING); // a second close
    expect(nextShardState(STOPPED, E.CLOSE)).toBe(STOPPED);
    expect(nextShardState(FAILED, E.CLOSE)).toBe(FAILED);
    expect(nextShardState(STOPPED, E.FAIL)).toBe(STOPPED);
    expect(nextShardState(STOPPED, E.RUN_ENDED)).toBe(STOPPED);
    expect(nextShardState(IDLE, E.RUN_ENDED)).toBe(IDLE);
  });

  it('takes records only before it stops, and has ended only when stopped or failed', () => {
    expect([IDLE, RUNNING, PARKED, STOPPING, STOPPED, FAILED].map(acceptsRecords)).toEqual([true, true, true, false, false, false]);
    expect([IDLE, RUNNING, PARKED, STOPPING, STOPPED, FAILED].map(hasEnded)).toEqual([false, false, false, false, true, true]);
  });
});
