/**
 * The bots' timers, ordered by intended due time (a binary min-heap). The engine fires
 * every timer whose due time has passed and records how late each one fired; a periodic
 * timer's next due time is its last due time plus its period, never "now plus the
 * period", so a generator that falls behind fires the missed calls late rather than
 * skipping them (wrk2's rule: a stall is seen, not hidden).
 */
export interface TimerEntry {
  due: number;
  /** 0 for a one-shot timer. */
  period: number;
  fn: (lateMs: number) => void;
  /** The bot that owns it (the engine ends the bot when fn throws). */
  owner: unknown;
  cancelled: boolean;
}

export class TimerHeap {
  private readonly items: TimerEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The earliest due time, or Infinity when empty. */
  nextDue(): number {
    return this.items.length === 0 ? Infinity : this.items[0].due;
  }

  push(entry: TimerEntry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent].due <= entry.due) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = entry;
  }

  /** Removes and returns the earliest timer (undefined when empty). */
  pop(): TimerEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && items[right].due < items[left].due ? right : left;
      if (items[child].due >= last.due) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}
