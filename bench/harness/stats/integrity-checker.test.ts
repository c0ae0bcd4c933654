/**
 * The integrity counts add up (issue #12, point 5): whatever order, duplicates and gaps the
 * echoes come in, lost + distinct echoes = sent on each connection, so lost never exceeds
 * sent, and each fault is counted once.
 */
import { describe, expect, it } from 'vitest';
import { IntegrityChecker } from './integrity-checker.js';

/** xorshift32, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

describe('IntegrityChecker', () => {
  it('counts an in-order run as nothing lost', () => {
    const checker = new IntegrityChecker(2);
    for (let s = 0; s < 100; s++) expect(checker.accept(s & 1, s >> 1)).toBe(true);
    expect(checker.counts([50, 50])).toEqual({ lost: 0, duplicated: 0, reordered: 0, corrupted: 0 });
  });

  it('counts a gap filled late as reordered, a repeat as duplicated, and what never came as lost', () => {
    const checker = new IntegrityChecker(1);
    for (const s of [0, 1, 3, 4, 2, 4, 6]) checker.accept(0, s);
    // Sent 0..7: 5 never came, nor 7; 2 came late; 4 came twice.
    expect(checker.counts([8])).toEqual({ lost: 2, duplicated: 1, reordered: 1, corrupted: 0 });
  });

  it('lost + distinct echoes = sent, for any order, duplicates and losses', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = rng(seed);
      const connections = 1 + Math.floor(random() * 4);
      const sent = Array.from({ length: connections }, () => Math.floor(random() * 300));
      const checker = new IntegrityChecker(connections);
      const distinct = new Array<Set<number>>(connections).fill(new Set()).map(() => new Set<number>());
      const echoes: [number, number][] = [];
      for (let c = 0; c < connections; c++) {
        for (let s = 0; s < sent[c]; s++) {
          const roll = random();
          if (roll < 0.1) continue; // lost
          echoes.push([c, s]);
          if (roll > 0.95) echoes.push([c, s]); // duplicated
        }
      }
      // Reorder locally: swap neighbours now and then, as a faulty server might.
      for (let i = 1; i < echoes.length; i++) {
        if (random() < 0.2) [echoes[i - 1], echoes[i]] = [echoes[i], echoes[i - 1]];
      }
      let duplicates = 0;
      for (const [c, s] of echoes) {
        const first = checker.accept(c, s);
        expect(first).toBe(!distinct[c].has(s));
        if (!first) duplicates++;
        distinct[c].add(s);
      }
      const counts = checker.counts(sent);
      const totalSent = sent.reduce((a, b) => a + b, 0);
      const totalDistinct = distinct.reduce((a, set) => a + set.size, 0);
      expect(counts.lost + totalDistinct).toBe(totalSent);
      expect(counts.lost).toBeLessThanOrEqual(totalSent);
      expect(counts.duplicated).toBe(duplicates);
    }
  });
});
