import { Shard, type ShardInit } from './shard.js';

/**
 * The piscina task: one long-running shard per worker thread. Resolves when the shard has
 * handled SHUTDOWN and closed its sockets.
 */
export default async function runShard(init: ShardInit): Promise<void> {
  await new Shard(init).run();
}
