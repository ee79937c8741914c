/**
 * RACK-TLP loss detection (RFC 8985), sans-I/O.
 *
 * RACK ("recent acknowledgment", RFC 8985 §6) decides that a segment is lost by time,
 * not by counting duplicate ACKs: once a segment sent later has been delivered, an
 * earlier one still missing after a reordering window is lost. It finds lost
 * retransmissions and losses in short flights, which DupThresh cannot. TLP ("tail loss
 * probe", RFC 8985 §7) sends one probe when the ACKs of a flight's tail stop coming, so
 * that a tail loss is repaired by RACK and fast recovery instead of a retransmission
 * timeout.
 *
 * `TransmitLog` is the per-segment record RACK needs (RFC 8985 §6.1): for each segment
 * in flight its sequence range, latest transmit time and retransmitted / SACKed / lost
 * state. `Rack` is the algorithm's state (RACK.xmit_ts, RACK.end_seq, RACK.rtt,
 * RACK.min_RTT, RACK.reo_wnd, RACK.fack, TLP.end_seq, ...) and its steps. The connection
 * (connection.ts) feeds both and owns the timer and the sending.
 *
 * Times are milliseconds on the caller's clock; sequence numbers are compared only
 * through seq.ts.
 */
import { defineFlagFields, defineNumberFields, numberStore } from './packed-fields';
import { seqDiff, seqGt, seqLeq, seqLt } from './seq';
import { NO_F64, NO_U32, NO_U8, giveFloat64, giveUint32, giveUint8, takeFloat64, takeUint32, takeUint8 } from './array-pool';
import type { SackScoreboard } from './sack-scoreboard';

/** Per-segment state bits in the transmission log (RFC 8985 §6.1 "per-segment variables"). */
export const SegState = {
  /** Sent more than once (RFC 8985 Segment.retransmitted). */
  RETRANSMITTED: 1,
  /** Wholly covered by SACK blocks. */
  SACKED: 2,
  /** Marked lost and not yet sent again (RFC 8985 Segment.lost). */
  LOST: 4,
} as const;

/**
 * RFC 8985 §6.2 step 4 uses RFC 6675's DupThresh: with that many segments SACKed and no
 * reordering seen, the reordering window closes.
 */
export const RACK_DUP_THRESH = 3;
/**
 * RFC 8985 §7.2: TLP.max_ack_delay, the worst-case delayed-ACK time added to the PTO when
 * one segment is in flight (the peer may hold its ACK back for it). 200 ms, the RFC's
 * suggested default and Linux's TCP_DELACK_MAX.
 */
export const TLP_MAX_ACK_DELAY = 200;
/** RFC 8985 §7.2: the PTO before any RTT sample: 1 s. */
export const TLP_INITIAL_PTO = 1000;
/**
 * Lower bound on the PTO: 40 ms, Linux's TCP_DELACK_MIN, the shortest time a peer holds
 * back a delayed ACK (a departure: RFC 8985 §7.2 has no floor). Our clock ticks in whole
 * milliseconds, so on a local link SRTT reads 0 or 1 ms, below the jitter of the event
 * loop and the TUN device; and a receiver may hold its ACK for its delayed-ACK time
 * whenever it has less than two full-sized segments unacknowledged (RFC 9293 §3.8.6.3),
 * not only when exactly one segment is in flight. A probe sooner than that races an ACK
 * that is late, not lost. Paths with an SRTT of 20 ms or more never meet the floor.
 */
export const TLP_MIN_PTO = 40;

/**
 * The transmission log: one entry per segment in flight, in sequence order, tiling
 * [SND.UNA, SND.NXT). A ring of typed arrays that grows only by doubling when full;
 * trimmed from the front by the cumulative ACK. Retransmitting part of an entry splits
 * it, so every entry has one transmit time. The arrays exist only while something is in
 * flight: they come from a free list (array-pool.ts) with the first entry and go back
 * when the last is acknowledged, so an idle connection holds none.
 */
export class TransmitLog {
  private startSeq: Uint32Array = NO_U32;
  private endSeq: Uint32Array = NO_U32;
  private xmit: Float64Array = NO_F64;
  private bits: Uint8Array = NO_U8;
  private head = 0;
  private n = 0;
  /** Capacity − 1 (−1 while the log holds no arrays). */
  private mask = -1;
  /** The capacity the arrays start with (a power of two). */
  private readonly initialCapacity: number;
  /** Sequence space the entries cover. */
  bytes = 0;
  /** Of that, wholly SACKed entries: bytes and segments (RFC 8985 RACK.segs_sacked). */
  sackedBytes = 0;
  sackedSegs = 0;
  /** Of that, entries marked lost and not sent again. */
  lostBytes = 0;

  constructor(capacity = 16) {
    let cap = 1;
    while (cap < capacity) cap *= 2;
    this.initialCapacity = cap;
  }

  get length(): number {
    return this.n;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  /**
   * RFC 6675 §4 SetPipe, from RACK's marks: bytes sent and neither SACKed nor lost (a
   * lost segment counts again once it is retransmitted, which clears its mark).
   */
  get pipe(): number {
    return this.bytes - this.sackedBytes - this.lostBytes;
  }

  private slot(i: number): number {
    return (this.head + i) & this.mask;
  }

  start(i: number): number {
    return this.startSeq[this.slot(i)]!;
  }

  end(i: number): number {
    return this.endSeq[this.slot(i)]!;
  }

  xmitTs(i: number): number {
    return this.xmit[this.slot(i)]!;
  }

  state(i: number): number {
    return this.bits[this.slot(i)]!;
  }

  clear(): void {
    this.n = 0;
    this.bytes = 0;
    this.sackedBytes = 0;
    this.sackedSegs = 0;
    this.lostBytes = 0;
    this.release();
  }

  /** Give the arrays back to the free list (the log is empty). */
  private release(): void {
    giveUint32(this.startSeq);
    giveUint32(this.endSeq);
    giveFloat64(this.xmit);
    giveUint8(this.bits);
    this.startSeq = this.endSeq = NO_U32;
    this.xmit = NO_F64;
    this.bits = NO_U8;
    this.head = 0;
    this.mask = -1;
  }

  /** A new segment [start, end) went out at `now`: it must begin where the log ends. */
  append(start: number, end: number, now: number): void {
    if (this.n === this.capacity) this.grow();
    const s = this.slot(this.n);
    this.startSeq[s] = start;
    this.endSeq[s] = end;
    this.xmit[s] = now;
    this.bits[s] = 0;
    this.n++;
    this.bytes += seqDiff(end, start);
  }

  /** Take arrays for the first entry, or double the ring, keeping the entries in order from index 0. */
  private grow(): void {
    const cap = this.capacity === 0 ? this.initialCapacity : this.capacity * 2;
    const start = takeUint32(cap);
    const end = takeUint32(cap);
    const xmit = takeFloat64(cap);
    const bits = takeUint8(cap);
    for (let i = 0; i < this.n; i++) {
      const s = this.slot(i);
      start[i] = this.startSeq[s]!;
      end[i] = this.endSeq[s]!;
      xmit[i] = this.xmit[s]!;
      bits[i] = this.bits[s]!;
    }
    giveUint32(this.startSeq);
    giveUint32(this.endSeq);
    giveFloat64(this.xmit);
    giveUint8(this.bits);
    this.startSeq = start;
    this.endSeq = end;
    this.xmit = xmit;
    this.bits = bits;
    this.head = 0;
    this.mask = cap - 1;
  }

  /** The first entry whose start is at or after `seq` (`length` if none). */
  lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqLt(this.start(mid), seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The entry that holds sequence number `seq`, or -1. */
  indexOf(seq: number): number {
    let i = this.lowerBound(seq);
    if (i < this.n && this.start(i) === seq) return i;
    i--;
    return i >= 0 && seqLt(seq, this.end(i)) ? i : -1;
  }

  /** Split entry `i` at `at` (strictly inside it) into two with the same time and state. */
  split(i: number, at: number): void {
    if (this.n === this.capacity) this.grow();
    // Move entries i+1 .. n-1 up by one, last first.
    for (let k = this.n; k > i + 1; k--) this.copy(this.slot(k - 1), this.slot(k));
    const a = this.slot(i);
    const b = this.slot(i + 1);
    this.startSeq[b] = at;
    this.endSeq[b] = this.endSeq[a]!;
    this.xmit[b] = this.xmit[a]!;
    this.bits[b] = this.bits[a]!;
    this.endSeq[a] = at;
    this.n++;
    if (this.bits[a]! & SegState.SACKED) this.sackedSegs++;
  }

  private copy(from: number, to: number): void {
    this.startSeq[to] = this.startSeq[from]!;
    this.endSeq[to] = this.endSeq[from]!;
    this.xmit[to] = this.xmit[from]!;
    this.bits[to] = this.bits[from]!;
  }

  /**
   * [start, end) was sent again at `now`: the entries it covers (split at its edges) take
   * the new transmit time, are marked retransmitted and are no longer lost.
   */
  retransmitted(start: number, end: number, now: number): void {
    let i = this.indexOf(start);
    if (i < 0) return;
    if (seqGt(start, this.start(i))) {
      this.split(i, start);
      i++;
    }
    for (; i < this.n && seqLt(this.start(i), end); i++) {
      if (seqGt(this.end(i), end)) this.split(i, end);
      const s = this.slot(i);
      if (this.bits[s]! & SegState.LOST) this.lostBytes -= seqDiff(this.endSeq[s]!, this.startSeq[s]!);
      this.bits[s] = (this.bits[s]! & ~SegState.LOST) | SegState.RETRANSMITTED;
      this.xmit[s] = now;
    }
  }

  /** Mark entry `i` lost; returns false if it already was, or is SACKed. */
  markLost(i: number): boolean {
    const s = this.slot(i);
    if (this.bits[s]! & (SegState.LOST | SegState.SACKED)) return false;
    this.bits[s] = this.bits[s]! | SegState.LOST;
    this.lostBytes += seqDiff(this.endSeq[s]!, this.startSeq[s]!);
    return true;
  }

  /** Mark entry `i` SACKed; returns false if it already was. */
  markSacked(i: number): boolean {
    const s = this.slot(i);
    const b = this.bits[s]!;
    if (b & SegState.SACKED) return false;
    const len = seqDiff(this.endSeq[s]!, this.startSeq[s]!);
    if (b & SegState.LOST) this.lostBytes -= len;
    this.bits[s] = (b & ~SegState.LOST) | SegState.SACKED;
    this.sackedBytes += len;
    this.sackedSegs++;
    return true;
  }

  /** Forget every SACK mark (RFC 2018 §8: the receiver may renege). */
  clearSacked(): void {
    for (let i = 0; i < this.n; i++) {
      const s = this.slot(i);
      this.bits[s] = this.bits[s]! & ~SegState.SACKED;
    }
    this.sackedBytes = 0;
    this.sackedSegs = 0;
  }

  /** Drop the first entry. */
  shift(): void {
    const s = this.head;
    const len = seqDiff(this.endSeq[s]!, this.startSeq[s]!);
    const b = this.bits[s]!;
    this.bytes -= len;
    if (b & SegState.SACKED) {
      this.sackedBytes -= len;
      this.sackedSegs--;
    }
    if (b & SegState.LOST) this.lostBytes -= len;
    this.head = (this.head + 1) & this.mask;
    this.n--;
    if (this.n === 0) this.release();
  }

  /** The cumulative ACK fell inside the first entry: cut it to start at `ack`. */
  trimFront(ack: number): void {
    const s = this.head;
    const cut = seqDiff(ack, this.startSeq[s]!);
    if (cut <= 0) return;
    const b = this.bits[s]!;
    this.bytes -= cut;
    if (b & SegState.SACKED) this.sackedBytes -= cut;
    if (b & SegState.LOST) this.lostBytes -= cut;
    this.startSeq[s] = ack;
  }

  /**
   * RFC 6675 §4 NextSeg rule 1 with RACK's marks: the lowest lost entry, less what the
   * scoreboard shows SACKed of it, into `out`. An entry the scoreboard covers wholly is
   * marked SACKed on the way. Returns false when nothing is lost.
   */
  firstLostHole(sb: SackScoreboard, out: { start: number; end: number }): boolean {
    if (this.lostBytes <= 0) return false;
    for (let i = 0; i < this.n; i++) {
      if (!(this.state(i) & SegState.LOST)) continue;
      if (sb.nextHole(this.start(i), this.end(i), out)) return true;
      this.markSacked(i);
    }
    return false;
  }

  /** The highest entry not SACKed, into `out` (RFC 8985 §7.3's probe retransmission). */
  lastUnsacked(out: { start: number; end: number }): boolean {
    for (let i = this.n - 1; i >= 0; i--) {
      if (this.state(i) & SegState.SACKED) continue;
      out.start = this.start(i);
      out.end = this.end(i);
      return true;
    }
    return false;
  }
}

/** RFC 8985 §6.2 RACK_sent_after(t1, seq1, t2, seq2). */
export function sentAfter(t1: number, seq1: number, t2: number, seq2: number): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2));
}

/**
 * RFC 8985 §7.2 TLP_calc_PTO, as an absolute deadline: 2·SRTT, plus TLP.max_ack_delay
 * when only one segment is in flight, or 1 s before any RTT sample; never later than the
 * RTO would fire (`rtoAt`), never sooner than TLP_MIN_PTO from now (see there).
 */
export function probeDeadline(now: number, hasRtt: boolean, srtt: number, oneSegmentInFlight: boolean, rtoAt: number): number {
  let pto: number;
  if (hasRtt) {
    pto = 2 * srtt;
    if (oneSegmentInFlight) pto += TLP_MAX_ACK_DELAY;
  } else {
    pto = TLP_INITIAL_PTO;
  }
  return Math.min(now + Math.max(pto, TLP_MIN_PTO), rtoAt);
}

/** RACK and TLP state of one connection, with its transmission log. */
export class Rack {
  // The flags and numbers declared below live here (packed-fields.ts).
  private flagBits = 0;
  private readonly numbers: number[] = numberStore(RACK_NUMBERS);
  readonly log: TransmitLog;
  /** RACK.xmit_ts and RACK.end_seq: the most recently sent segment known delivered. */
  declare xmitTs: number;
  declare endSeq: number;
  /** No segment has been delivered yet (RACK.xmit_ts unset). */
  declare hasXmit: boolean;
  /** RACK.rtt: the RTT of that segment's delivery. */
  declare rtt: number;
  /**
   * RACK.min_RTT. RFC 8985 §6.2 step 1 prefers a windowed minimum; this is the simple
   * global minimum (an RTT that grows for good is seen late; it only widens reo_wnd).
   */
  declare minRtt: number;
  /** RACK.fack: the highest end sequence delivered. */
  declare fack: number;
  /** RACK.reordering_seen. */
  declare reorderingSeen: boolean;
  /**
   * RACK.reo_wnd_mult. Fixed at 1: without D-SACK (RFC 2883) there is nothing to adapt it
   * by, which is the RFC's DSACK-free behaviour.
   */
  readonly reoWndMult = 1;
  /** Segments newly marked lost by the last `detectLoss` or `markLostOnRto`. */
  lostNow = 0;
  /** RFC 8985 §7.1 TLP state: a probe is outstanding (TLP.end_seq set), and what it was. */
  declare tlpActive: boolean;
  declare tlpEndSeq: number;
  declare tlpIsRetrans: boolean;

  // The best RACK.segment candidate among the segments one ACK delivers (§6.2 step 2).
  private declare candSet: boolean;
  private declare candTs: number;
  private declare candEnd: number;
  private declare echoedAt: number;

  constructor(capacity = 16) {
    this.log = new TransmitLog(capacity);
  }

  /** Start afresh with nothing in flight; `seq` is SND.NXT (RFC 8985 §6.1, §7.1). */
  reset(seq: number): void {
    this.log.clear();
    this.hasXmit = false;
    this.xmitTs = 0;
    this.endSeq = seq;
    this.rtt = 0;
    this.minRtt = Infinity;
    this.fack = seq;
    this.reorderingSeen = false;
    this.lostNow = 0;
    this.tlpActive = false;
  }

  /** RFC 8985 §6.2 step 1: an RTT measurement (RFC 6298 / RFC 7323) updates RACK.min_RTT. */
  onRttSample(rtt: number): void {
    if (rtt >= 0 && rtt < this.minRtt) this.minRtt = rtt;
  }

  /**
   * Begin processing one ACK. `echoedAt` is when the segment whose timestamp the ACK
   * echoes was sent (whole ms), or Infinity without timestamps.
   */
  beginAck(echoedAt: number): void {
    this.echoedAt = echoedAt;
    this.candSet = false;
  }

  /** The cumulative ACK reached `ack`: the entries below it are delivered and leave the log. */
  cumulativeAck(ack: number, now: number): void {
    const log = this.log;
    while (log.length > 0 && seqLeq(log.end(0), ack)) {
      if (!(log.state(0) & SegState.SACKED)) this.delivered(0, now, true);
      log.shift();
    }
    if (log.length > 0 && seqLt(log.start(0), ack)) log.trimFront(ack);
  }

  /**
   * A SACK block [left, right) with news in it: the entries it wholly covers are
   * delivered. Call in ascending order of blocks, after `cumulativeAck`.
   */
  sack(left: number, right: number, now: number): void {
    const log = this.log;
    for (let i = log.lowerBound(left); i < log.length && seqLt(log.start(i), right); i++) {
      if (seqGt(log.end(i), right)) break;
      if (log.markSacked(i)) this.delivered(i, now, false);
    }
  }

  /**
   * RFC 8985 §6.2 steps 1–3 for one newly delivered entry, in ascending sequence order.
   * `cumulative`: delivered by the cumulative ACK, whose timestamp echo then identifies
   * which transmission arrived (RFC 7323 §4.3 echoes the segment that advanced RCV.NXT);
   * a SACK's echo does not, so for SACKed retransmissions only the min_RTT test applies.
   */
  private delivered(i: number, now: number, cumulative: boolean): void {
    const log = this.log;
    const ts = log.xmitTs(i);
    const end = log.end(i);
    const retransmitted = (log.state(i) & SegState.RETRANSMITTED) !== 0;
    const rtt = now - ts;
    // Step 1: a segment sent once gives an unambiguous RTT sample.
    if (!retransmitted) this.onRttSample(rtt);
    // Step 3: delivered below the highest delivered sequence, and never retransmitted:
    // the network reordered it.
    if (seqGt(end, this.fack)) this.fack = end;
    else if (seqLt(end, this.fack) && !retransmitted) this.reorderingSeen = true;
    // Step 2: skip a retransmitted segment if the ACK may be for an earlier transmission:
    // the echoed timestamp predates the retransmission, or the ACK came sooner than any
    // round trip could.
    if (retransmitted) {
      if (cumulative && Math.floor(ts) > this.echoedAt) return;
      if (rtt < this.minRtt) return;
    }
    if (!this.candSet || sentAfter(ts, end, this.candTs, this.candEnd)) {
      this.candSet = true;
      this.candTs = ts;
      this.candEnd = end;
    }
  }

  /**
   * End of one ACK (RFC 8985 §6.2 step 2): RACK.rtt is the RTT of the most recently sent
   * segment it delivered, and RACK.xmit_ts/end_seq advance to it if it was sent later.
   * Returns whether any delivered segment counted.
   */
  endAck(now: number): boolean {
    if (!this.candSet) return false;
    this.rtt = now - this.candTs;
    if (!this.hasXmit || sentAfter(this.candTs, this.candEnd, this.xmitTs, this.endSeq)) {
      this.hasXmit = true;
      this.xmitTs = this.candTs;
      this.endSeq = this.candEnd;
    }
    return true;
  }

  /**
   * RFC 8985 §6.2 step 4, RACK_update_reo_wnd without D-SACK adaptation: no reordering
   * window while in loss recovery or once DupThresh segments are SACKed, unless the path
   * has been seen to reorder; otherwise min_RTT / 4, at most SRTT.
   */
  reoWnd(inRecovery: boolean, srtt: number): number {
    if (!this.reorderingSeen && (inRecovery || this.log.sackedSegs >= RACK_DUP_THRESH)) return 0;
    if (this.minRtt === Infinity) return 0;
    return Math.min((this.reoWndMult * this.minRtt) / 4, srtt);
  }

  /**
   * RFC 8985 §6.2 step 5, RACK_detect_loss: a segment not yet delivered and sent before
   * RACK.segment is lost once RACK.rtt + reo_wnd has passed since it was sent. Marks
   * those (`lostNow` counts them) and returns when the next one would be due, for the
   * reordering timer, or Infinity. (The RFC arms the timer for the latest such deadline;
   * the earliest repairs the first loss sooner, at the cost of more timer runs.)
   *
   * The log is in sequence order, and segments are first sent in that order, so the first
   * never-retransmitted segment sent after RACK.segment ends the search: everything above
   * it was sent later still.
   */
  detectLoss(now: number, reoWnd: number): number {
    this.lostNow = 0;
    if (!this.hasXmit) return Infinity;
    const log = this.log;
    let due = Infinity;
    for (let i = 0; i < log.length; i++) {
      const st = log.state(i);
      if (st & (SegState.SACKED | SegState.LOST)) continue;
      const ts = log.xmitTs(i);
      if (sentAfter(ts, log.end(i), this.xmitTs, this.endSeq)) {
        if (!(st & SegState.RETRANSMITTED)) break;
        continue;
      }
      const at = ts + this.rtt + reoWnd;
      if (at <= now) {
        if (log.markLost(i)) this.lostNow++;
      } else if (at < due) {
        due = at;
      }
    }
    return due;
  }

  /**
   * RFC 8985 §6.3, upon RTO expiration: the first segment not yet delivered is lost (it
   * was sent an RTO ago), and every other one sent at least RACK.rtt + reo_wnd ago.
   */
  markLostOnRto(now: number, reoWnd: number): void {
    this.lostNow = 0;
    this.tlpActive = false;
    const log = this.log;
    let first = true;
    for (let i = 0; i < log.length; i++) {
      if (log.state(i) & SegState.SACKED) continue;
      if (first || log.xmitTs(i) + this.rtt + reoWnd <= now) {
        if (log.markLost(i)) this.lostNow++;
      }
      first = false;
    }
  }

  /** A probe [.., endSeq) went out (RFC 8985 §7.3): TLP.end_seq and TLP.is_retrans. */
  probeSent(endSeq: number, isRetrans: boolean): void {
    this.tlpActive = true;
    this.tlpEndSeq = endSeq;
    this.tlpIsRetrans = isRetrans;
  }
}

// The compact fields of Rack (packed-fields.ts), in storage order.
defineFlagFields(Rack.prototype, ['hasXmit', 'reorderingSeen', 'tlpActive', 'tlpIsRetrans', 'candSet']);
/** The number store's initial values. */
const RACK_NUMBERS: readonly number[] = defineNumberFields(Rack.prototype, {
  xmitTs: 0,
  endSeq: 0,
  rtt: 0,
  minRtt: Infinity,
  fack: 0,
  tlpEndSeq: 0,
  candTs: 0,
  candEnd: 0,
  echoedAt: Infinity,
});
