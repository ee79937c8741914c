/**
 * A min-heap of (deadline, item), with lazy cancellation: an item is filed under one
 * deadline at a time (`item.timerKey`); moving it earlier files it again, and an entry
 * whose deadline no longer matches its item's key is skipped when it surfaces. Moving a
 * deadline later costs nothing until the old entry surfaces. Push and pop are O(log n)
 * and, once the arrays have grown, allocation-free.
 */
export interface Timed {
  timerKey: number;
}

export class TimerQueue<T extends Timed> {
  private readonly at: number[] = [];
  private readonly items: T[] = [];

  get size(): number {
    return this.at.length;
  }

  /** Earliest live deadline, or Infinity (stale entries on top are discarded). */
  peek(): number {
    while (this.at.length > 0 && this.items[0]!.timerKey !== this.at[0]!) this.removeTop();
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  /** File `item` under `deadline` if that is earlier than where it is filed now. */
  schedule(item: T, deadline: number): void {
    if (deadline >= item.timerKey) return;
    item.timerKey = deadline;
    if (deadline === Infinity) return;
    const at = this.at;
    const items = this.items;
    let i = at.length;
    at.push(deadline);
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (at[p]! <= deadline) break;
      at[i] = at[p]!;
      items[i] = items[p]!;
      i = p;
    }
    at[i] = deadline;
    items[i] = item;
  }

  /** Remove and return the earliest item due by `now` (its key reset), or null. */
  popDue(now: number): T | null {
    while (this.at.length > 0 && this.at[0]! <= now) {
      const deadline = this.at[0]!;
      const item = this.removeTop();
      if (item.timerKey !== deadline) continue; // stale: refiled earlier, or cancelled
      item.timerKey = Infinity;
      return item;
    }
    return null;
  }

  /** Forget an item's filing (its entries become stale). */
  cancel(item: T): void {
    item.timerKey = Infinity;
  }

  clear(): void {
    this.at.length = 0;
    this.items.length = 0;
  }

  private removeTop(): T {
    const at = this.at;
    const items = this.items;
    const top = items[0]!;
    const lastAt = at.pop()!;
    const lastItem = items.pop()!;
    const n = at.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && at[r]! < at[l]! ? r : l;
      if (at[c]! >= lastAt) break;
      at[i] = at[c]!;
      items[i] = items[c]!;
      i = c;
    }
    at[i] = lastAt;
    items[i] = lastItem;
    return top;
  }
}
