/**
 * Sequence number arithmetic modulo 2^32 (RFC 9293 §3.4).
 *
 * Sequence numbers are uint32 values held in plain JS numbers. They wrap, so they are
 * never compared with a bare `<` (STYLE.md rule 5): every comparison goes through these
 * helpers, which compare by the signed 32-bit distance between the two numbers. That is
 * meaningful while the numbers being compared lie within 2^31 of each other, which TCP
 * guarantees by keeping windows below 2^30 (RFC 7323 §2.3).
 *
 * Two numbers exactly 2^31 apart are each "less than" the other; no caller should ever
 * compare such a pair.
 */

/** RFC 9293 §3.4: "arithmetic on sequence numbers must be performed modulo 2^32". */
export const SEQ_MODULUS = 0x1_0000_0000;

/** a + n modulo 2^32; `n` may be negative. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed 32-bit distance a − b: positive when a is after b. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** RFC 9293 §3.4: a =< b, a < b and so on, "modulo 2^32". */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) > 0 ? a : b;
}

/** The earlier of two sequence numbers. */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) < 0 ? a : b;
}

/**
 * lo =< x < hi, modulo 2^32: x lies in the half-open range that starts at lo and runs
 * forward to hi (RFC 9293 §3.4, "RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND"). An empty range
 * (lo === hi) contains nothing. The range is measured forward from lo, so it may be up to
 * 2^32 − 1 long; TCP's ranges never exceed 2^31.
 */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return (x - lo) >>> 0 < (hi - lo) >>> 0;
}

/**
 * lo =< x =< hi, modulo 2^32 (RFC 9293 §3.4, "SND.UNA < SEG.ACK =< SND.NXT" is
 * `seqInRangeIncl(ack, una + 1, nxt)`). With lo === hi the range holds exactly lo.
 */
export function seqInRangeIncl(x: number, lo: number, hi: number): boolean {
  return (x - lo) >>> 0 <= (hi - lo) >>> 0;
}
