/**
 * A hierarchical timer wheel: arm, re-arm and cancel in O(1), expiry in O(1) per timer
 * plus at most one cascade per level it passes through.
 *
 * The design is Varghese & Lauck, "Hashed and Hierarchical Timing Wheels: Data
 * Structures for the Efficient Implementation of a Timer Facility" (SOSP 1987), scheme 7:
 * a clock whose hands are the digits of the expiry tick. The slot sizes are those of
 * Linux's classic wheel (kernel/timer.c before 4.8: TVR_BITS = 8, TVN_BITS = 6, one
 * 256-slot level and four 64-slot levels, with cascade() refiling a higher level's slot
 * when the lower level wraps). The code is our own.
 *
 * - One tick is 1 ms, the unit of every TCP deadline here (RFC 6298 §4: granularities of
 *   ≤ 100 ms do better; RFC 7323 §5.4: a timestamp clock of 1 ms to 1 s per tick).
 * - Times are virtual: each call passes `now`; the wheel never reads a clock.
 * - Ticks are split into 32-bit epochs of 2^32 ms (~49.7 days). Within the current epoch
 *   a timer is filed by the most significant digit in which its tick differs from the
 *   current tick `cur`:
 *     level 0: bits 0-7   (256 slots of 1 ms: the current 256 ms block)
 *     level 1: bits 8-13  (64 slots of 256 ms: up to 2^14 ms ≈ 16 s)
 *     level 2: bits 14-19 (64 slots of 2^14 ms: up to 2^20 ms ≈ 17.5 min)
 *     level 3: bits 20-25 (64 slots of 2^20 ms: up to 2^26 ms ≈ 18.6 h)
 *     level 4: bits 26-31 (64 slots of 2^26 ms: the rest of the epoch)
 *   A timer in a later epoch goes to one overflow list, refiled when the wheel enters a
 *   new epoch. A TIME-WAIT of 2×MSL (60 s) sits in level 2, a 2 h keepalive in level 3.
 * - Linux files by distance (expires − now); filing by digit instead means every timer
 *   in level k expires before every timer in level k+1, and slots at or before the
 *   current digit are empty. So the next non-empty slot is a forward bitmap scan with no
 *   wrap, and `peek()` is exact whenever the earliest timer is in level 0.
 * - When `cur` reaches the start of a non-empty slot of level k ≥ 1, that slot is
 *   cascaded: its timers are refiled relative to the new `cur`, into lower levels.
 *   Empty stretches are skipped in one step: `cur` jumps to the next event.
 * - Deadlines may be fractional. A level-0 slot holds one whole millisecond; the slot of
 *   the current tick is scanned with the exact deadline, so nothing fires early and
 *   nothing fires late. Timers due at or before `cur` (the past) go to that slot.
 *
 * Lists are intrusive and doubly linked (the item carries its links and slot), appended
 * at the tail, so timers of one millisecond fire in the order they were armed. Each slot
 * keeps a lower bound `low` of its deadlines (exact after a rescan), and one bit in an
 * occupancy bitmap. Nothing is allocated after construction.
 */

/** What an item must carry to be filed in the wheel (initialise to Infinity, null, null, -1). */
export interface WheelTimed<T> {
  /** The deadline it is filed under (ms); Infinity when not filed. */
  timerKey: number;
  timerNext: T | null;
  timerPrev: T | null;
  /** The slot it is filed in; -1 when not filed. */
  timerSlot: number;
}

/** Ticks (ms) per epoch: the range of the four upper levels together. */
const EPOCH = 2 ** 32;
const L0_SLOTS = 256;
/** Slots in each of levels 1-4. */
const LN_SLOTS = 64;
const UPPER_LEVELS = 4;
/** The overflow list is one more slot, after levels 0-4. */
const OVERFLOW = L0_SLOTS + UPPER_LEVELS * LN_SLOTS;
const SLOTS = OVERFLOW + 1;
const NOT_FILED = -1;

/** Bit position of level k's digit (k ≥ 1): 8, 14, 20, 26. */
function digitShift(k: number): number {
  return 6 * k + 2;
}

/** First slot of level k ≥ 1. */
function levelBase(k: number): number {
  return L0_SLOTS + (k - 1) * LN_SLOTS;
}

export class TimerWheel<T extends WheelTimed<T>> {
  private readonly heads: (T | null)[] = new Array<T | null>(SLOTS).fill(null);
  private readonly tails: (T | null)[] = new Array<T | null>(SLOTS).fill(null);
  /** Per slot: ≤ every deadline in it (Infinity when empty); exact unless `stale`. */
  private readonly low = new Float64Array(SLOTS).fill(Infinity);
  /** Per slot: 1 when the timer that set `low` has left (low may be below the true minimum). */
  private readonly stale = new Uint8Array(SLOTS);
  /** One bit per slot: non-empty. */
  private readonly occupied = new Uint32Array((SLOTS + 31) >>> 5);
  /** The current tick: slots before it are done (its own level-0 slot may hold timers not yet due). */
  private cur: number;
  /** `cur` split into epoch and tick within the epoch. */
  private curHi: number;
  private curLo: number;
  private count = 0;
  /** Set by nextEvent(): the slot to cascade there, or -1 (a level-0 slot needs none). */
  private eventSlot = -1;

  /** `start`: a time (ms) at or before the first `popDue`; later timers file faster from it. */
  constructor(start = 0) {
    const t = Math.floor(start);
    this.cur = t;
    this.curHi = Math.floor(t / EPOCH);
    this.curLo = t - this.curHi * EPOCH;
  }

  /** Timers filed. */
  get size(): number {
    return this.count;
  }

  /**
   * File `item` under `deadline` (ms), moving it if already filed (earlier or later).
   * Infinity (or NaN) cancels. A deadline already past is due at the next `popDue`.
   */
  schedule(item: T, deadline: number): void {
    if (!(deadline < Infinity)) return this.cancel(item);
    if (item.timerSlot !== NOT_FILED) {
      if (item.timerKey === deadline) return; // keeps its place among timers of the same ms
      this.unlink(item);
    } else {
      this.count++;
    }
    item.timerKey = deadline;
    this.link(item, this.slotFor(Math.floor(deadline)));
  }

  /** Unfile `item` (nothing if it is not filed). */
  cancel(item: T): void {
    if (item.timerSlot === NOT_FILED) return;
    this.unlink(item);
    this.count--;
    item.timerKey = Infinity;
  }

  /**
   * A lower bound of the earliest deadline, Infinity when empty. Exact when the earliest
   * timer is in level 0; otherwise at least the start of its slot, and always later than
   * the `now` of a `popDue` that returned null, so a driver that sleeps until `peek()`
   * and drains `popDue` makes progress.
   */
  peek(): number {
    if (this.count === 0) return Infinity;
    const s0 = this.curLo & 255;
    if (this.heads[s0] !== null) return this.exactLow(s0);
    let s = this.firstSet(s0 + 1, L0_SLOTS);
    if (s >= 0) return this.exactLow(s);
    for (let k = 1; k <= UPPER_LEVELS; k++) {
      const base = levelBase(k);
      s = this.firstSet(base + ((this.curLo >>> digitShift(k)) & 63) + 1, base + LN_SLOTS);
      if (s >= 0) return this.low[s]!;
    }
    return this.low[OVERFLOW]!;
  }

  /**
   * Remove and return one timer whose deadline is ≤ `now` (its key reset to Infinity), or
   * null when none is left. Call until null; timers come out in tick order, and in arming
   * order within one millisecond.
   */
  popDue(now: number): T | null {
    const t = Math.floor(now);
    for (;;) {
      const s = this.curLo & 255;
      if (this.heads[s] !== null && this.low[s]! <= now) {
        for (let x = this.heads[s] ?? null; x !== null; x = x.timerNext) {
          if (x.timerKey > now) continue;
          this.unlink(x);
          this.count--;
          x.timerKey = Infinity;
          return x;
        }
        this.rescan(s); // `low` was stale
      }
      if (!(t > this.cur)) return null;
      const at = this.nextEvent();
      if (at > t || at === Infinity) {
        // Nothing in (cur, t]: jump. Only the overflow list can hold timers of a new epoch.
        if (t === Infinity) return null;
        const crossed = Math.floor(t / EPOCH) !== this.curHi;
        this.moveTo(t);
        if (crossed && this.heads[OVERFLOW] !== null) this.cascade(OVERFLOW);
        continue;
      }
      this.moveTo(at);
      if (this.eventSlot >= 0) this.cascade(this.eventSlot);
    }
  }

  /**
   * The tick of the next event after `cur`: a non-empty level-0 slot, the start of a
   * non-empty slot of a higher level (cascade), or the overflow's earliest tick. Levels
   * are in expiry order, so the first one found is the next. Infinity when empty.
   */
  private nextEvent(): number {
    const lo = this.curLo;
    const d0 = lo & 255;
    let s = this.firstSet(d0 + 1, L0_SLOTS);
    if (s >= 0) {
      this.eventSlot = -1;
      return this.cur + (s - d0);
    }
    for (let k = 1; k <= UPPER_LEVELS; k++) {
      const shift = digitShift(k);
      const base = levelBase(k);
      s = this.firstSet(base + ((lo >>> shift) & 63) + 1, base + LN_SLOTS);
      if (s >= 0) {
        this.eventSlot = s;
        // The start of the slot: cur's block at this level's span, plus s's digit.
        return this.cur - (lo % 2 ** (shift + 6)) + (s - base) * 2 ** shift;
      }
    }
    if (this.heads[OVERFLOW] !== null) {
      // Levels 0-4 are empty: jump straight to the earliest overflow tick (in a later
      // epoch, so > cur; the max is a guard), where the overflow is refiled.
      this.eventSlot = OVERFLOW;
      return Math.max(Math.floor(this.low[OVERFLOW]!), this.cur + 1);
    }
    return Infinity;
  }

  private moveTo(t: number): void {
    this.cur = t;
    this.curHi = Math.floor(t / EPOCH);
    this.curLo = t - this.curHi * EPOCH;
  }

  /** The slot for a timer at tick `t`, relative to `cur`. */
  private slotFor(t: number): number {
    if (t <= this.cur) return this.curLo & 255;
    const hi = Math.floor(t / EPOCH);
    if (hi !== this.curHi) return OVERFLOW;
    const lo = t - hi * EPOCH;
    const top = 31 - Math.clz32(lo ^ this.curLo); // the most significant digit that differs
    if (top < 8) return lo & 255;
    const k = ((top - 2) / 6) | 0;
    return levelBase(k) + ((lo >>> digitShift(k)) & 63);
  }

  /** Refile every timer of slot `s` relative to `cur` (they all go to lower levels). */
  private cascade(s: number): void {
    let x = this.heads[s] ?? null;
    this.heads[s] = null;
    this.tails[s] = null;
    this.occupied[s >>> 5]! &= ~(1 << (s & 31));
    this.low[s] = Infinity;
    this.stale[s] = 0;
    while (x !== null) {
      const next = x.timerNext;
      this.link(x, this.slotFor(Math.floor(x.timerKey)));
      x = next;
    }
  }

  private link(item: T, s: number): void {
    const tail = this.tails[s] ?? null;
    item.timerSlot = s;
    item.timerNext = null;
    item.timerPrev = tail;
    if (tail === null) {
      this.heads[s] = item;
      this.occupied[s >>> 5]! |= 1 << (s & 31);
    } else {
      tail.timerNext = item;
    }
    this.tails[s] = item;
    if (item.timerKey < this.low[s]!) {
      this.low[s] = item.timerKey;
      this.stale[s] = 0;
    }
  }

  /** Take `item` out of its slot (its key still set). */
  private unlink(item: T): void {
    const s = item.timerSlot;
    const prev = item.timerPrev;
    const next = item.timerNext;
    if (prev === null) this.heads[s] = next;
    else prev.timerNext = next;
    if (next === null) this.tails[s] = prev;
    else next.timerPrev = prev;
    item.timerPrev = null;
    item.timerNext = null;
    item.timerSlot = NOT_FILED;
    if (this.heads[s] === null) {
      this.occupied[s >>> 5]! &= ~(1 << (s & 31));
      this.low[s] = Infinity;
      this.stale[s] = 0;
    } else if (item.timerKey <= this.low[s]!) {
      this.stale[s] = 1;
    }
  }

  private exactLow(s: number): number {
    if (this.stale[s] !== 0) this.rescan(s);
    return this.low[s]!;
  }

  /** Recompute a slot's `low` from its timers. */
  private rescan(s: number): void {
    let m = Infinity;
    for (let x = this.heads[s] ?? null; x !== null; x = x.timerNext) if (x.timerKey < m) m = x.timerKey;
    this.low[s] = m;
    this.stale[s] = 0;
  }

  /** The first non-empty slot in [from, to) (both within one level), or -1. */
  private firstSet(from: number, to: number): number {
    if (from >= to) return -1;
    const occ = this.occupied;
    let w = from >>> 5;
    let bits = occ[w]! & (-1 << (from & 31));
    const last = (to - 1) >>> 5;
    for (;;) {
      if (bits !== 0) {
        const s = (w << 5) + 31 - Math.clz32(bits & -bits);
        return s < to ? s : -1;
      }
      if (++w > last) return -1;
      bits = occ[w]!;
    }
  }
}
