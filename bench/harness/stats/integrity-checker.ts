/**
 * Checks that every connection's echoes come back exactly once, in order, and intact.
 *
 * Per connection it keeps `next`, the sequence number expected next, and the set of
 * sequence numbers skipped over (a gap: a later one arrived first). For each echo:
 * - seq = next: in order; next moves on.
 * - seq > next: next … seq − 1 become gaps; next = seq + 1.
 * - seq < next and a gap: it came back late, after a later one: reordered (once).
 * - seq < next and not a gap: it came back before: duplicated.
 * At the end every gap still open, and every sequence sent past `next`, is lost. An echo
 * whose checksum fails, or that names another connection or a sequence never sent, is
 * corrupted (and its sequence is not trusted). In the usual case (in order) nothing is
 * allocated.
 */
import type { IntegrityCounts, RunReport } from '../report.js';

/**
 * How many of `run`'s echoes were faults: duplicated, reordered, corrupted, and lost —
 * except over UDP, where a lost datagram is what UDP may do (reported, not a fault) and an
 * echo the client's reader dropped for a bad checksum header counts as corrupted instead.
 * (UDP over a real network may also reorder; loopback and one ringwire socket never do, so
 * it stays a fault.) 0 when the run checked no echoes (raw mode).
 */
export function integrityFaults(run: RunReport): number {
  const i = run.integrity;
  if (i === null) return 0;
  const always = i.duplicated + i.reordered + i.corrupted;
  return run.settings.transport === 'udp' ? always + (run.udp?.rejected ?? 0) : always + i.lost;
}

/** A gap wider than this is counted lost at once rather than remembered number by number. */
const GAP_TRACK_LIMIT = 65_536;

export class IntegrityChecker {
  private readonly next: Float64Array;
  /** Open gaps per connection (created on the first gap). */
  private readonly gaps: (Set<number> | undefined)[];
  private duplicated = 0;
  private reordered = 0;
  private corrupted = 0;
  /** Gaps too wide to remember, counted lost when they opened. */
  private untracked = 0;

  constructor(connections: number) {
    this.next = new Float64Array(connections);
    this.gaps = new Array<Set<number> | undefined>(connections).fill(undefined);
  }

  /** An intact echo of `sequence` on `connection`. Returns false for a duplicate. */
  accept(connection: number, sequence: number): boolean {
    const next = this.next[connection];
    if (sequence === next) {
      this.next[connection] = next + 1;
      return true;
    }
    if (sequence > next) {
      if (sequence - next > GAP_TRACK_LIMIT) {
        this.untracked += sequence - next;
      } else {
        let gaps = this.gaps[connection];
        if (gaps === undefined) gaps = this.gaps[connection] = new Set<number>();
        for (let missing = next; missing < sequence; missing++) gaps.add(missing);
      }
      this.next[connection] = sequence + 1;
      return true;
    }
    const gaps = this.gaps[connection];
    if (gaps !== undefined && gaps.delete(sequence)) {
      this.reordered++;
      return true;
    }
    this.duplicated++;
    return false;
  }

  /** An echo that failed its checksum or names a connection or sequence it should not. */
  corrupt(): void {
    this.corrupted++;
  }

  /** The counts, given how many datagrams each connection sent (`sent[i]`). */
  counts(sent: ArrayLike<number>): IntegrityCounts {
    let lost = this.untracked;
    for (let i = 0; i < this.next.length; i++) {
      lost += this.gaps[i]?.size ?? 0;
      if (sent[i] > this.next[i]) lost += sent[i] - this.next[i];
    }
    return { lost, duplicated: this.duplicated, reordered: this.reordered, corrupted: this.corrupted };
  }
}
