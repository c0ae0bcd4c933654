/**
 * ShardSet (issue #24, point 7), driven through its host interface with real worker
 * threads and real rings: worker shards start with the first pick, park when they hold
 * nothing and run again for the next record; a shard whose thread dies is reported to the
 * host and replaced in its slot; close stops them all; single-thread mode runs one shard
 * on this thread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS } from '../../../src/main/core/options.js';
import type { ShardHandle } from '../../../src/main/shards/shard-handle.js';
import { ShardSet, type ShardSetHost } from '../../../src/main/shards/shard-set.js';
import { ShardState } from '../../../src/main/shards/shard-state.js';
import { SocketOption } from '../../../src/shared/protocol/record-kind.js';
import { closeAll, onCleanup, pollUntil } from '../../helpers/net-harness.js';

afterEach(closeAll);

function recordingHost(): ShardSetHost & { failed: [number, string][]; rang: number } {
  const host = {
    failed: [] as [number, string][],
    rang: 0,
    shardFailed(shard: ShardHandle, error: Error) {
      host.failed.push([shard.index, error.message]);
    },
    inbound() {
      host.rang++;
    },
  };
  return host;
}

function makeSet(host: ShardSetHost): ShardSet {
  const set = new ShardSet({ ...DEFAULT_OPTIONS, ringCapacity: 1 << 16, shutdownTimeoutMs: 2000 }, host);
  onCleanup(() => set.shutdown());
  return set;
}

/** A connection the shard does not hold: records for it are read and passed over. */
const STRANGER = { id: 999_999, open: true, backlogSlot: -1, sentBytes: 0, framing: 0 as const, toString: () => 'stranger' };

describe('ShardSet', () => {
  it('starts worker shards with the first pick, parks them when they hold nothing, runs one again for a record', async () => {
    const set = makeSet(recordingHost());
    set.configure(2);
    expect(set.workerCount()).toBe(2);
    expect(set.handles.map((handle) => handle.state)).toEqual([ShardState.IDLE, ShardState.IDLE]);
    expect(set.streamRoom()).toBe('ok');
    const first = set.pick(true);
    expect(set.handles.map((handle) => handle.state)).toEqual([ShardState.RUNNING, ShardState.RUNNING]);
    first.connections = 1;
    expect(set.pick(true)).not.toBe(first); // the least loaded
    await pollUntil(() => set.handles.every((handle) => handle.state === ShardState.PARKED), { label: 'both shards to park' });
    set.handles[1].setOption(STRANGER, SocketOption.NO_DELAY, 1);
    set.handles[1].flush();
    expect(set.handles[1].state).toBe(ShardState.RUNNING);
    expect(set.handles[0].state).toBe(ShardState.PARKED);
    await set.shutdown();
    expect(set.handles.map((handle) => handle.state)).toEqual([ShardState.STOPPED, ShardState.STOPPED]);
  });

  it('reports a shard whose thread dies to the host and replaces it in its slot', async () => {
    const host = recordingHost();
    const set = makeSet(host);
    set.configure(2);
    set.pick(true);
    const doomed = set.handles[0];
    const pool = (set as unknown as { pool: { threads: { terminate(): Promise<number> }[] } }).pool;
    await Promise.all(pool.threads.map((thread) => thread.terminate()));
    await pollUntil(() => host.failed.length >= 2, { label: 'both failures reported' });
    expect(host.failed.map(([index]) => index).sort()).toEqual([0, 1]);
    expect(doomed.state).toBe(ShardState.FAILED);
    await pollUntil(() => set.handles.every((handle) => handle !== doomed && handle.state !== ShardState.FAILED), {
      label: 'fresh shards in both slots',
    });
    expect(set.pick(true).state).not.toBe(ShardState.FAILED);
  });

  it('single-thread mode: one shard on this thread, running until close', async () => {
    const set = makeSet(recordingHost());
    set.configure(0);
    expect(set.workerCount()).toBe(0);
    expect(set.handles).toHaveLength(1);
    const shard = set.handles[0];
    expect(shard.local).not.toBeNull();
    expect(shard.state).toBe(ShardState.RUNNING);
    expect(set.pick(false)).toBe(shard);
    await set.shutdown();
    expect(shard.state).toBe(ShardState.STOPPED);
  });
});
