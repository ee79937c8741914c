/**
 * The sender's SACK scoreboard (RFC 6675 §3): which sequence ranges above SND.UNA the
 * receiver has reported holding (RFC 2018 §3 SACK blocks). From it the sender decides
 * what is lost (IsLost) and how much is in the network (SetPipe), and so what to
 * retransmit next (NextSeg).
 *
 * Ranges are sequence numbers (mod 2^32), sorted and disjoint, kept as [start, end)
 * pairs in an array of bounded size, no allocation per ACK. The array exists only while
 * something is SACKed: it comes from a free list (array-pool.ts) with the first block and
 * goes back when the cumulative ACK passes the last.
 */
import { NO_F64, giveFloat64, takeFloat64 } from './array-pool';
import { seqDiff, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin } from './seq';

/** Ranges kept at most; a receiver reports 3 or 4 blocks per ACK, reneging aside. */
const MAX_RANGES = 64;

export class SackScoreboard {
  private r: Float64Array = NO_F64;
  private n = 0;
  /** Total bytes SACKed above SND.UNA. */
  sacked = 0;

  get rangeCount(): number {
    return this.n;
  }

  start(i: number): number {
    return this.r[2 * i]!;
  }

  end(i: number): number {
    return this.r[2 * i + 1]!;
  }

  clear(): void {
    this.n = 0;
    this.sacked = 0;
    this.release();
  }

  private release(): void {
    giveFloat64(this.r);
    this.r = NO_F64;
  }

  /** The highest SACKed sequence number + 1, or `fallback` when nothing is SACKed. */
  highest(fallback: number): number {
    return this.n === 0 ? fallback : this.end(this.n - 1);
  }

  /**
   * Record a SACK block. Blocks outside (SND.UNA, SND.NXT] are ignored (RFC 2018 §4: a
   * block below the cumulative ACK is a D-SACK or stale). Returns the bytes newly SACKed.
   */
  add(left: number, right: number, sndUna: number, sndNxt: number): number {
    left = seqMax(left, sndUna);
    right = seqMin(right, sndNxt);
    if (!seqLt(left, right)) return 0;
    if (this.r.length === 0) this.r = takeFloat64(MAX_RANGES * 2);
    const r = this.r;
    // Find the first range that ends at or after `left`.
    let i = 0;
    while (i < this.n && seqLt(this.end(i), left)) i++;
    let newStart = left;
    let newEnd = right;
    let covered = 0;
    let j = i;
    // Merge every range that touches [left, right).
    while (j < this.n && seqLeq(this.start(j), right)) {
      const overlap = seqDiff(seqMin(this.end(j), right), seqMax(this.start(j), left));
      if (overlap > 0) covered += overlap;
      newStart = seqMin(newStart, this.start(j));
      newEnd = seqMax(newEnd, this.end(j));
      j++;
    }
    const merged = j - i;
    if (merged === 0 && this.n >= MAX_RANGES) return 0; // full: forget this block
    // Replace ranges [i, j) with the one merged range.
    const shift = 1 - merged;
    if (shift !== 0) r.copyWithin(2 * (i + 1), 2 * j, 2 * this.n);
    this.n += shift;
    r[2 * i] = newStart;
    r[2 * i + 1] = newEnd;
    const added = seqDiff(right, left) - covered;
    this.sacked += added;
    return added;
  }

  /** The cumulative ACK moved to `sndUna`: forget what lies below it. */
  advance(sndUna: number): void {
    let drop = 0;
    while (drop < this.n && seqLeq(this.end(drop), sndUna)) {
      this.sacked -= seqDiff(this.end(drop), this.start(drop));
      drop++;
    }
    if (drop > 0) {
      this.r.copyWithin(0, 2 * drop, 2 * this.n);
      this.n -= drop;
      if (this.n === 0) this.release();
    }
    if (this.n > 0 && seqLt(this.start(0), sndUna)) {
      this.sacked -= seqDiff(sndUna, this.start(0));
      this.r[0] = sndUna;
    }
  }

  isSacked(seq: number): boolean {
    for (let i = 0; i < this.n; i++) {
      if (seqLt(seq, this.start(i))) return false;
      if (seqLt(seq, this.end(i))) return true;
    }
    return false;
  }

  /** Bytes SACKed at or above `seq`. */
  sackedAbove(seq: number): number {
    let bytes = 0;
    for (let i = this.n - 1; i >= 0; i--) {
      if (seqLeq(this.end(i), seq)) break;
      bytes += seqDiff(this.end(i), seqMax(this.start(i), seq));
    }
    return bytes;
  }

  /**
   * RFC 6675 §4 IsLost(SeqNum): a byte is lost when more than (DupThresh − 1) × SMSS
   * bytes above it have been SACKed. Returns the sequence number below which every
   * unSACKed byte is lost — the start of the range at which the SACKed bytes, counted
   * from the top, first exceed that amount — or `fallback` when none is.
   */
  lossEdge(mss: number, dupThresh: number, fallback: number): number {
    const need = (dupThresh - 1) * mss;
    let bytes = 0;
    for (let i = this.n - 1; i >= 0; i--) {
      bytes += seqDiff(this.end(i), this.start(i));
      if (bytes > need) return this.start(i);
    }
    return fallback;
  }

  /**
   * The first unSACKed byte at or after `from` and below `limit`, with the end of its
   * hole (the next SACKed byte, or `limit`). Returns false when there is none.
   */
  nextHole(from: number, limit: number, out: { start: number; end: number }): boolean {
    let s = from;
    for (let i = 0; i < this.n; i++) {
      if (seqLeq(this.end(i), s)) continue;
      if (seqLt(s, this.start(i))) {
        if (!seqLt(s, limit)) return false;
        out.start = s;
        out.end = seqMin(this.start(i), limit);
        return true;
      }
      s = this.end(i);
    }
    if (!seqLt(s, limit)) return false;
    out.start = s;
    out.end = limit;
    return true;
  }

  /** Unsacked bytes in [from, to). */
  holesBetween(from: number, to: number): number {
    if (!seqLt(from, to)) return 0;
    let total = seqDiff(to, from);
    for (let i = 0; i < this.n; i++) {
      const a = seqMax(this.start(i), from);
      const b = seqMin(this.end(i), to);
      if (seqGt(b, a)) total -= seqDiff(b, a);
      if (seqGeq(this.start(i), to)) break;
    }
    return total;
  }
}
