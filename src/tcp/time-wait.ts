/**
 * TIME-WAIT as a compact record (RFC 9293 §3.10.7.4 TIME-WAIT, RFC 1337, RFC 1122
 * §4.2.2.13). Once a connection reaches TIME-WAIT its buffers, timers and socket are
 * gone; what must survive 2×MSL is only enough to answer the peer: the 4-tuple, SND.NXT
 * and RCV.NXT, and the deadline.
 */
import { TcpFlag } from '../wire/tcp';
import { Segment } from './segment';
import { seqGeq, seqGt } from './seq';

export class TimeWaitRecord {
  /** Hash-chain link in the TCP layer's TIME-WAIT table. */
  next: TimeWaitRecord | null = null;
  /** The window field to send (unscaled), as last offered. */
  window = 0;
  /** Timestamps were in use (RFC 7323): every ACK carries them, and TS.Recent is kept. */
  tsOk = false;
  tsRecent = 0;
  /** Added to the millisecond clock for our TSval (the connection's per-connection offset). */
  tsOffset = 0;
  constructor(
    readonly localPort: number,
    readonly remoteAddr: number,
    readonly remotePort: number,
    /** SND.NXT: one past our FIN. */
    readonly sndNxt: number,
    /** RCV.NXT: one past the peer's FIN. */
    readonly rcvNxt: number,
    public expires: number,
  ) {}
}

export const TimeWaitAction = {
  /** Nothing to do. */
  DROP: 0,
  /** Send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. */
  ACK: 1,
  /** A new SYN above RCV.NXT: forget the record and treat the SYN as a new connection. */
  REOPEN: 2,
} as const;
export type TimeWaitAction = (typeof TimeWaitAction)[keyof typeof TimeWaitAction];

/** What to do with a segment that arrives for a TIME-WAIT record. */
export function timeWaitInput(rec: TimeWaitRecord, seg: Segment, now: number, twoMsl: number): TimeWaitAction {
  // RFC 1337 §4 (TIME-WAIT assassination hazard H1): ignore RST segments in TIME-WAIT.
  if (seg.has(TcpFlag.RST)) return TimeWaitAction.DROP;
  const o = seg.options;
  if (seg.has(TcpFlag.SYN)) {
    if (seg.has(TcpFlag.ACK)) return TimeWaitAction.ACK;
    // RFC 6191 §2: with timestamps on both incarnations, a SYN whose TSval is above
    // TS.Recent may open a new one; otherwise RFC 1122 §4.2.2.13's rule: a sequence
    // number above the old connection's final one.
    if (rec.tsOk && o.hasTimestamps) return seqGt(o.tsVal, rec.tsRecent) ? TimeWaitAction.REOPEN : TimeWaitAction.ACK;
    return seqGt(seg.seq, rec.rcvNxt) ? TimeWaitAction.REOPEN : TimeWaitAction.ACK;
  }
  if (seg.has(TcpFlag.FIN)) {
    // RFC 9293 §3.10.7.4: "The only thing that can arrive in this state is a
    // retransmission of the remote FIN. Acknowledge it, and restart the 2 MSL timeout."
    // RFC 7323 §4.3: its timestamp becomes TS.Recent, echoed in our ACK.
    if (rec.tsOk && o.hasTimestamps && seqGeq(o.tsVal, rec.tsRecent)) rec.tsRecent = o.tsVal;
    rec.expires = now + twoMsl;
    return TimeWaitAction.ACK;
  }
  // Anything else: a segment we cannot accept draws an ACK (RFC 9293 §3.10.7.4 first
  // check); a bare in-window ACK is the peer acknowledging our ACK and needs none.
  return seg.payloadLen > 0 ? TimeWaitAction.ACK : TimeWaitAction.DROP;
}
