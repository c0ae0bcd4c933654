/**
 * What the network benches read from a server under test (PlainFrameServer,
 * RingwireBenchServer): where it listens, what runs, and what it has counted so far.
 */
export interface CountedServer {
  /** What runs: 'node:net', 'N worker shards', 'main-thread shard' ('' for no server). */
  readonly mode: string;
  readonly port: number;
  /** Datagrams received since the server opened. */
  readonly datagrams: number;
  /** Payload bytes of those datagrams. */
  readonly bytes: number;
  /** The connections the server has taken, to wait for the clients' ones. */
  connected(): number;
  close(): Promise<void>;
}
