/**
 * One TCP connection: the RFC 9293 state machine, sans-I/O.
 *
 * Inputs are method calls that carry the time: `onSegment(seg, now)` for an arriving
 * segment, `onTimer(now)` when `nextDeadline()` has passed, and the user calls of
 * RFC 9293 §3.10 (`send`, `read`, `shutdown`, `close`, `abort`). Outputs are polled
 * afterwards, never emitted in the middle of a state update:
 *
 * - `pollSegment(out, now)` fills in the next segment to send (repeat until false);
 * - `pollEvent()` returns the next event for the application (connected, readable,
 *   end, writable, error, closed);
 * - `nextDeadline()` is the earliest of the connection's timers.
 *
 * The connection reads no clock, sets no timer and does no I/O; the TCP layer
 * (tcp-layer.ts) does that for all connections at once.
 */
import { defineFlagFields, defineNumberFields, numberStore } from './packed-fields';
import { TcpFlag } from '../wire/tcp';
import { TCP_MAX_SACK_BLOCKS, TcpOptions, tcpOptionsLength } from '../wire/tcp-options';
import { TcpConfig } from './config';
import { CongestionControl, CongestionControlFactory, newReno } from './congestion';
import { Rack, probeDeadline } from './rack';
import { RecvBuffer } from './recv-buffer';
import { RttEstimator } from './rtt';
import { Segment, SegmentOut } from './segment';
import { SackScoreboard } from './sack-scoreboard';
import { SendBuffer } from './send-buffer';
import { seqAdd, seqDiff, seqGeq, seqGt, seqInRange, seqLeq, seqLt, seqMax, seqMin } from './seq';
import { TcpState, isSynchronized } from './state';
import type { TcpTracer } from './tracer';

/** Events for the application, delivered by `pollEvent()` in this order. */
export const ConnEvent = {
  CONNECTED: 1,
  READABLE: 2,
  END: 4,
  WRITABLE: 8,
  ERROR: 16,
  CLOSED: 32,
} as const;
export type ConnEvent = (typeof ConnEvent)[keyof typeof ConnEvent];

/** Error codes, as Node's `net` reports them. */
export type ConnErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT';

/**
 * The connection's timers (STYLE.md rule 2: one table of named deadlines).
 *
 * RETRANSMIT is the loss-detection timer. With RACK-TLP it also carries the RACK
 * reordering timer and the TLP probe timeout: RFC 8985 §8 has them share one timer with a
 * note of its kind, since only the earliest matters and the RTO is the backstop of both.
 * `lossTimerKind` tells which is armed.
 */
export const Timer = {
  RETRANSMIT: 0,
  DELAYED_ACK: 1,
  PERSIST: 2,
  KEEPALIVE: 3,
  TIME_WAIT: 4,
  CONNECT: 5,
  FIN_WAIT_2: 6,
} as const;
export type Timer = (typeof Timer)[keyof typeof Timer];
const TIMER_COUNT = 7;

/** RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: the send MSS when the peer sends no MSS option. */
const DEFAULT_SEND_MSS = 536;
/** RFC 7323 §2.3: the largest shift. */
const MAX_WINDOW_SHIFT = 14;
/** RFC 7323 §3.2 / RFC 6691: NOP, NOP, Timestamps = 12 bytes on every segment. */
const TS_OPTION_SPACE = 12;
/** RFC 5681 §3.2 / RFC 6675 §2: DupThresh. */
const DUP_THRESH = 3;
/** RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness. */
const PAWS_IDLE_LIMIT = 24 * 24 * 3600 * 1000;
/** Persist-timer bounds: Linux's TCP_RESOURCE_PROBE_INTERVAL-like floor and TCP_RTO_MAX ceiling. */
const PERSIST_MIN = 200;

export interface Endpoints {
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
}

export interface ConnectionStats {
  segmentsIn: number;
  segmentsOut: number;
  /** Application bytes delivered in order / acknowledged by the peer. */
  bytesIn: number;
  bytesOut: number;
  /** Segments sent again, for any reason. */
  retransmits: number;
  /** Loss recoveries begun by duplicate ACKs or SACK (RFC 5681 §3.2, RFC 6675 §5). */
  fastRetransmits: number;
  /** Retransmission timeouts (RFC 6298 §5.4). */
  timeouts: number;
  /** Duplicate ACKs received. */
  dupAcks: number;
  /** SACK blocks received and sent. */
  sackBlocksIn: number;
  sackBlocksOut: number;
  /** Bytes received out of order (held for reassembly). */
  outOfOrderBytes: number;
  /** Segments RACK marked lost (RFC 8985 §6.2), each a retransmission to come. */
  rackLost: number;
  /** Tail loss probes sent (RFC 8985 §7.3). */
  tlpProbes: number;
}

/**
 * Scratch for one segment's processing, shared by every connection (the core is
 * single-threaded and a segment is handled start to finish before the next): the hole
 * NextSeg (RFC 6675 §4) or RACK found for the segment being built, per-ACK SACK
 * bookkeeping, and the out-of-order ranges an outgoing SACK option is built from. Kept
 * out of the connection so that an idle one carries none of them.
 */
const HOLE = { start: 0, end: 0 };
const SACK_ADDED = new Float64Array(TCP_MAX_SACK_BLOCKS);
const SACK_ORDER = new Uint8Array(TCP_MAX_SACK_BLOCKS);
const SACK_RANGES = new Uint32Array(2 * 32);

export class Connection implements Endpoints {
  // The flags and the sequence-number and time fields declared below live here
  // (packed-fields.ts); the accessors are defined after the class.
  private flagBits = 0;
  private readonly numbers: number[] = numberStore(CONNECTION_NUMBERS);

  state: TcpState = TcpState.CLOSED;

  // RFC 9293 §3.3.1 send sequence variables.
  declare iss: number;
  declare sndUna: number;
  declare sndNxt: number;
  sndWnd = 0;
  declare sndWl1: number;
  declare sndWl2: number;
  // RFC 9293 §3.3.1 receive sequence variables (RCV.WND is `rcvWnd`, computed).
  declare irs: number;
  declare rcvNxt: number;

  /** The largest window the peer has offered (RFC 9293 §3.8.6.2.1 "Max(SND.WND)"). */
  maxSndWnd = 0;
  /** The MSS we send with (RFC 9293 §3.7.1 "Eff.snd.MSS"). */
  sndMss = DEFAULT_SEND_MSS;
  /**
   * Data bytes in a full-sized segment: the send MSS less the options every segment
   * carries (RFC 6691 §2: timestamps take 12 bytes of it). Congestion control counts in it.
   */
  effMss = DEFAULT_SEND_MSS;
  /** RFC 7323 §2.2 shift counts: Snd.Wind.Shift and Rcv.Wind.Shift. */
  sndShift = 0;
  rcvShift = 0;
  /** The right edge of the window we last advertised; it never moves left (RFC 9293 §3.8.6.2.2). */
  private declare rcvAdvRight: number;

  readonly sendBuf: SendBuffer;
  readonly recvBuf: RecvBuffer;
  readonly rtt: RttEstimator;
  /** The congestion controller; made anew once the peer's MSS is known. */
  cc: CongestionControl;
  readonly stats: ConnectionStats = {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    dupAcks: 0,
    sackBlocksIn: 0,
    sackBlocksOut: 0,
    outOfOrderBytes: 0,
    rackLost: 0,
    tlpProbes: 0,
  };
  /** Each timer's deadline, indexed by `Timer`: the first TIMER_COUNT elements of the number store (packed-fields.ts). */
  get deadlines(): number[] {
    return this.numbers;
  }

  /** Opened from a listener (RFC 9293 "passive OPEN"): matters for RST in SYN-RECEIVED. */
  declare passive: boolean;
  /** Nagle's algorithm off (RFC 1122 §4.2.3.4 lets the application disable it). */
  declare noDelay: boolean;
  /** Keepalive probes enabled (RFC 1122 §4.2.3.6: off by default). */
  declare keepAlive: boolean;
  keepaliveIdle: number;
  /** The application has closed the connection entirely: no more reads (Linux "orphan"). */
  declare orphan: boolean;
  /** The peer's FIN has been received (in order). */
  declare finReceived: boolean;
  /** For the socket layer and the TCP layer's bookkeeping. */
  owner: unknown = null;
  /** Hash-chain link in the TCP layer's demux table. */
  demuxNext: Connection | null = null;
  /** The deadline this connection is filed under in the TCP layer's timer wheel, its links and slot there. */
  declare timerKey: number;
  timerNext: Connection | null = null;
  timerPrev: Connection | null = null;
  timerSlot = -1;
  /** In the TCP layer's list of connections to flush this turn. */
  declare queued: boolean;
  /** Trace hook (tracer.ts); null when nothing listens. */
  tracer: TcpTracer | null = null;
  /** The time of the call being handled, for trace events. */
  private declare now: number;

  /** Both SYNs carried the window-scale option (RFC 7323 §2.2). */
  declare scalingAgreed: boolean;
  /** Both SYNs carried timestamps (RFC 7323 §3.2): every segment carries them from then on. */
  declare tsOk: boolean;
  /** Both SYNs carried SACK-permitted (RFC 2018 §2). */
  declare sackOk: boolean;
  /** The sender's SACK scoreboard (RFC 6675 §3). */
  readonly scoreboard = new SackScoreboard();
  /**
   * RACK-TLP state and transmission log (RFC 8985); null unless the configuration asks
   * for it and SACK is in force (RFC 8985 §4 needs SACK to tell what was delivered).
   */
  rack: Rack | null = null;
  /** RFC 7323 §4.3: TS.Recent, when it was set, and Last.ACK.sent. */
  private declare tsRecent: number;
  private declare tsRecentAt: number;
  private declare lastAckSent: number;
  /** RFC 6675 §2 HighRxt: the highest sequence number retransmitted in this recovery. */
  private declare highRxt: number;
  /** NewReno's temporary window inflation during fast recovery (RFC 5681 §3.2 steps 3–5). */
  private inflation = 0;
  /** The application has shut down its sending side: a FIN follows the buffered data. */
  private declare finQueued: boolean;
  /** Our FIN has been sent, with sequence number `finSeq`. */
  private declare finSent: boolean;
  private declare finSeq: number;
  /** When the last segment arrived (for zero-window persistence and keepalive). */
  private declare lastRecv: number;
  private declare probePending: boolean;
  private declare keepalivePending: boolean;
  private declare synPending: boolean;
  private declare ackNow: boolean;
  /**
   * RFC 5681 §4.2: one immediate duplicate ACK per out-of-order segment, even when a
   * batch brings several (the sender counts them to detect loss).
   */
  private dupAcksOwed = 0;
  private unackedSegments = 0;
  /** Sequence-space range to retransmit, [rtxNext, rtxEnd); empty when equal. */
  private declare rtxNext: number;
  private declare rtxEnd: number;
  /** Consecutive retransmission timeouts of the same data. */
  private retries = 0;
  /**
   * The loss-detection timer's three deadlines (see `Timer`): the RTO (RFC 6298), the
   * RACK reordering timer (RFC 8985 §6.2) and the TLP probe timeout (RFC 8985 §7.2).
   * `deadlines[Timer.RETRANSMIT]` is their minimum.
   */
  private declare rtoAt: number;
  private declare reoAt: number;
  private declare ptoAt: number;
  /** The probe timeout fired: the next segment sent is a tail loss probe (RFC 8985 §7.3). */
  private declare tlpPending: boolean;
  /**
   * RFC 6675 §5 (4.3): on entering recovery the first lost segment is retransmitted
   * whatever the pipe; so is the first after a timeout (RFC 6298 §5.4).
   */
  private declare rtxForce: boolean;
  /** Per SACK block of the ACK being processed: bytes it newly SACKed, and ascending order. */
  /** The ACK being processed echoes a timestamp older than the data it acknowledges (see rttSampleFromAck). */
  private declare staleEcho: boolean;
  /** RFC 6298 §3 (Karn): one segment timed at a time, never a retransmitted one. */
  private declare rttTiming: boolean;
  private declare rttSeq: number;
  private declare rttStart: number;
  private dupAcks = 0;
  /** A SYN or SYN,ACK of ours timed out (RFC 6298 §5.7). */
  private declare synTimedOut: boolean;
  private declare inRecovery: boolean;
  /** RFC 6582 §3.2 "recover": the highest sequence number sent when recovery began. */
  private declare recover: number;
  private declare keepaliveSent: number;
  /** Sequence number of a FIN that arrived ahead of missing data, or -1. */
  private pendingFin = -1;
  private events = 0;
  private errorCode: ConnErrorCode | null = null;
  // A reset to send (RFC 9293 §3.10.7): filled in by the input path, sent first.
  private declare rstPending: boolean;
  private declare rstSeq: number;
  private declare rstAck: number;
  private rstFlags = 0;

  constructor(
    readonly config: TcpConfig,
    readonly localAddr: number,
    readonly localPort: number,
    readonly remoteAddr: number,
    readonly remotePort: number,
    iss: number,
    ccFactory: CongestionControlFactory = newReno,
  ) {
    this.iss = iss >>> 0;
    this.sendBuf = new SendBuffer(config.sendBufferSize);
    this.recvBuf = new RecvBuffer(config.recvBufferSize);
    this.rtt = new RttEstimator({ initialRto: config.initialRto, minRto: config.minRto, maxRto: config.maxRto });
    this.cc = ccFactory(Math.min(config.mss, DEFAULT_SEND_MSS), config.initialWindow);
    this.ccFactory = ccFactory;
    this.keepaliveIdle = config.keepaliveIdle;
    if (config.windowScaling) {
      // RFC 7323 §2.3: the smallest shift that lets the window cover the receive buffer.
      while (this.rcvShift < MAX_WINDOW_SHIFT && config.recvBufferSize > 0xffff << this.rcvShift) this.rcvShift++;
    }
  }

  private readonly ccFactory: CongestionControlFactory;

  // ---------------------------------------------------------------------------------
  // Opening (RFC 9293 §3.10.1 OPEN, §3.10.7.2 LISTEN)

  /** Active OPEN: send a SYN and enter SYN-SENT. */
  connect(now: number): void {
    this.now = now;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.setState(TcpState.SYN_SENT);
    this.synPending = true;
    this.deadlines[Timer.CONNECT] = now + this.config.connectTimeout;
  }

  /**
   * A SYN arrived at a listener (RFC 9293 §3.10.7.2 third check): set RCV.NXT = SEG.SEQ+1,
   * IRS = SEG.SEQ, queue <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, enter SYN-RECEIVED.
   */
  acceptSyn(seg: Segment, now: number): void {
    this.now = now;
    this.passive = true;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdvRight = this.rcvNxt; // nothing advertised yet
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.takeSynOptions(seg);
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    this.sndWnd = seg.window;
    this.maxSndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.setState(TcpState.SYN_RECEIVED);
    this.synPending = true;
    this.stats.segmentsIn++;
    this.deadlines[Timer.CONNECT] = now + this.config.connectTimeout;
  }

  /** Options a SYN carries: MSS (RFC 9293 §3.7.1) and window scale (RFC 7323 §2.2). */
  private takeSynOptions(seg: Segment): void {
    const o = seg.options;
    this.sndMss = Math.max(64, Math.min(o.mss >= 0 ? o.mss : DEFAULT_SEND_MSS, this.config.mss));
    this.scalingAgreed = this.config.windowScaling && o.windowScale >= 0;
    if (this.scalingAgreed) {
      this.sndShift = Math.min(o.windowScale, MAX_WINDOW_SHIFT);
    } else {
      // RFC 7323 §2.2: both sides must offer it, or neither side scales.
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    // RFC 7323 §3.2 and RFC 2018 §2: in force only when both SYNs carry them.
    this.tsOk = this.config.timestamps && o.hasTimestamps;
    if (this.tsOk) {
      this.tsRecent = o.tsVal;
      this.tsRecentAt = this.now;
    }
    this.sackOk = this.config.sack && o.sackPermitted;
    if (this.sackOk && this.config.rack) {
      if (this.rack === null) this.rack = new Rack();
    } else {
      this.rack = null;
    }
    this.effMss = this.sndMss - (this.tsOk ? TS_OPTION_SPACE : 0);
    this.cc = this.ccFactory(this.effMss, this.config.initialWindow);
  }

  /** TS.Recent (RFC 7323 §4.3), for the TIME-WAIT record that outlives this connection. */
  get timestampRecent(): number {
    return this.tsRecent;
  }

  /** The offset our TSval adds to the millisecond clock. */
  get timestampOffset(): number {
    return this.iss;
  }

  /**
   * Our timestamp clock: milliseconds (RFC 7323 §5.4 allows 1 ms to 1 s per tick) plus a
   * per-connection offset, so timestamps reveal nothing across connections (RFC 7323
   * §7.1). The ISS is already a keyed hash of the 4-tuple.
   */
  private tsNow(now: number): number {
    return (Math.floor(now) + this.iss) >>> 0;
  }

  /** Timestamps and SACK blocks for a segment other than a SYN. */
  private addOptions(o: TcpOptions, now: number): void {
    if (this.tsOk) {
      o.hasTimestamps = true;
      o.tsVal = this.tsNow(now);
      o.tsEcr = this.tsRecent;
    }
    // RFC 2018 §4: when holding out-of-order data, report it; the first block holds the
    // most recently received segment, the rest repeat other ranges.
    if (this.sackOk && this.recvBuf.outOfOrderBytes > 0) {
      const ranges = SACK_RANGES;
      const base = this.rcvNxt;
      if (this.recvBuf.mostRecentRange(ranges)) {
        const first0 = ranges[0]!;
        const first1 = ranges[1]!;
        o.addSackBlock(seqAdd(base, first0), seqAdd(base, first1));
        const n = this.recvBuf.oooRanges(ranges);
        for (let i = n - 1; i >= 0; i--) {
          if (ranges[2 * i] === first0) continue;
          if (!o.addSackBlock(seqAdd(base, ranges[2 * i]!), seqAdd(base, ranges[2 * i + 1]!))) break;
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------
  // User calls (RFC 9293 §3.10.2 SEND, §3.10.3 RECEIVE, §3.10.4 CLOSE, §3.10.5 ABORT)

  /** Queue data to send; returns how many bytes fit in the send buffer. */
  send(src: Buffer, off = 0, len = src.length - off): number {
    if (this.finQueued || this.state === TcpState.CLOSED || this.state === TcpState.LISTEN) return 0;
    return this.sendBuf.write(src, off, len);
  }

  /** Bytes the send buffer can take now. */
  get sendSpace(): number {
    return this.finQueued ? 0 : this.sendBuf.free;
  }

  /** Bytes queued but not yet acknowledged. */
  get sendQueued(): number {
    return this.sendBuf.length;
  }

  /** In-order bytes waiting for the application. */
  get readable(): number {
    return this.recvBuf.readable;
  }

  /** Take up to `max` received bytes (a new Buffer); reopening the window may queue an update. */
  read(max = Infinity): Buffer {
    const before = this.recvBuf.window;
    const data = this.recvBuf.readBuffer(Math.min(max, this.recvBuf.readable));
    if (data.length > 0 && isSynchronized(this.state) && !this.finReceived) this.maybeWindowUpdate(before);
    return data;
  }

  /**
   * RFC 9293 §3.8.6.2.2 (receiver SWS avoidance): announce a reopened window only once
   * it has grown by min(half the buffer, one MSS); from a zero window, always.
   */
  private maybeWindowUpdate(before: number): void {
    const offered = Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt));
    const now = this.recvBuf.window;
    // Like Linux (tcp_cleanup_rbuf), only when the offered window has fallen to half the
    // buffer or less and the update at least doubles it: otherwise the sender is not held
    // up, and the next ACK carries the news.
    if (now > before && now - offered >= Math.min(this.recvBuf.capacity >> 1, this.config.mss) && offered * 2 <= this.recvBuf.capacity && now >= offered * 2) {
      this.ackNow = true;
    }
  }

  /**
   * CLOSE of the sending side (RFC 9293 §3.10.4): a FIN follows the queued data.
   * ESTABLISHED → FIN-WAIT-1, CLOSE-WAIT → LAST-ACK, SYN-SENT → CLOSED.
   */
  shutdown(now: number): void {
    this.now = now;
    switch (this.state) {
      case TcpState.SYN_SENT:
        // "Delete the TCB and return 'error: closing' responses to any queued SENDs".
        return this.enterClosed();
      case TcpState.SYN_RECEIVED:
        // "If no SENDs have been issued and there is no pending data to send, then form a
        // FIN segment and send it" — we queue it behind the handshake either way and send
        // it once the SYN is acknowledged.
        this.finQueued = true;
        return;
      case TcpState.ESTABLISHED:
        this.finQueued = true;
        return this.setState(TcpState.FIN_WAIT_1);
      case TcpState.CLOSE_WAIT:
        this.finQueued = true;
        return this.setState(TcpState.LAST_ACK);
      case TcpState.LISTEN:
      case TcpState.CLOSED:
      case TcpState.FIN_WAIT_1:
      case TcpState.FIN_WAIT_2:
      case TcpState.CLOSING:
      case TcpState.LAST_ACK:
      case TcpState.TIME_WAIT:
        // "error: connection closing": nothing more to do.
        void now;
        return;
      default:
        return assertNever(this.state);
    }
  }

  /**
   * The application is done with the connection (Node's `destroy()` after reading).
   * Unread data means the peer's data will never be read: RFC 9293 §3.10.4 / RFC 2525
   * §2.17 say to reset rather than pretend a graceful close. Otherwise close gracefully
   * and let the connection finish on its own (an orphan, with a FIN-WAIT-2 timeout).
   */
  close(now: number): void {
    this.now = now;
    if (this.recvBuf.readable > 0 && isSynchronized(this.state)) return this.abort(now);
    this.orphan = true;
    this.shutdown(now);
    if (this.state === TcpState.FIN_WAIT_2) this.deadlines[Timer.FIN_WAIT_2] = now + this.config.finWait2Timeout;
  }

  /** ABORT (RFC 9293 §3.10.5): RST in the states where the peer holds state, then CLOSED. */
  abort(now: number): void {
    this.now = now;
    switch (this.state) {
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
      case TcpState.FIN_WAIT_1:
      case TcpState.FIN_WAIT_2:
      case TcpState.CLOSE_WAIT:
        // "Send a reset segment: <SEQ=SND.NXT><CTL=RST>".
        this.queueRst(this.sndNxt, 0, TcpFlag.RST);
        break;
      case TcpState.SYN_SENT:
      case TcpState.CLOSING:
      case TcpState.LAST_ACK:
      case TcpState.TIME_WAIT:
      case TcpState.LISTEN:
      case TcpState.CLOSED:
        break;
      default:
        assertNever(this.state);
    }
    this.enterClosed();
  }

  setKeepAlive(enable: boolean, idleMs: number | undefined, now: number): void {
    this.keepAlive = enable;
    if (idleMs !== undefined && idleMs > 0) this.keepaliveIdle = idleMs;
    this.keepaliveSent = 0;
    this.deadlines[Timer.KEEPALIVE] = enable && isSynchronized(this.state) ? now + this.keepaliveIdle : Infinity;
  }

  // ---------------------------------------------------------------------------------
  // Segment arrival (RFC 9293 §3.10.7), in the RFC's order.

  onSegment(seg: Segment, now: number): void {
    this.now = now;
    this.stats.segmentsIn++;
    this.dropped = null;
    this.lastRecv = now;
    if (this.keepAlive) {
      this.keepaliveSent = 0;
      this.deadlines[Timer.KEEPALIVE] = now + this.keepaliveIdle;
    }
    switch (this.state) {
      case TcpState.CLOSED:
      case TcpState.LISTEN:
        // The TCP layer handles these (§3.10.7.1, §3.10.7.2); a connection never sees them.
        return;
      case TcpState.SYN_SENT:
        return this.onSegmentSynSent(seg, now);
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
      case TcpState.FIN_WAIT_1:
      case TcpState.FIN_WAIT_2:
      case TcpState.CLOSE_WAIT:
      case TcpState.CLOSING:
      case TcpState.LAST_ACK:
      case TcpState.TIME_WAIT:
        return this.onSegmentOtherwise(seg, now);
      default:
        return assertNever(this.state);
    }
  }

  /** RFC 9293 §3.10.7.3: SYN-SENT. */
  private onSegmentSynSent(seg: Segment, now: number): void {
    const ack = seg.has(TcpFlag.ACK);
    // First, check the ACK bit: SEG.ACK =< ISS or SEG.ACK > SND.NXT is unacceptable.
    if (ack && (seqLeq(seg.ack, this.iss) || seqGt(seg.ack, this.sndNxt))) {
      // "send a reset (unless the RST bit is set, if so drop the segment and return)".
      if (!seg.has(TcpFlag.RST)) this.queueRst(seg.ack, 0, TcpFlag.RST);
      return;
    }
    // Second, check the RST bit: only an RST that acknowledges our SYN resets the
    // connection (RFC 5961 §3.2's mitigation in SYN-SENT: the ACK must be acceptable).
    if (seg.has(TcpFlag.RST)) {
      if (ack) this.fail('ECONNREFUSED');
      return;
    }
    // Third, security: RFC 9293 §3.10.7.3 — no IP security compartments here.
    // Fourth, check the SYN bit.
    if (!seg.has(TcpFlag.SYN)) return; // Fifth: "drop the segment and return".
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdvRight = this.rcvNxt; // nothing advertised yet
    this.takeSynOptions(seg);
    if (ack) {
      this.sndUna = seg.ack; // our SYN is acknowledged
      this.rttSampleFromAck(seg, seg.ack, now);
    }
    if (seqGt(this.sndUna, this.iss)) {
      // "enter ESTABLISHED, form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>".
      this.sndWnd = seg.window; // RFC 7323 §2.2: not scaled in a SYN
      this.maxSndWnd = seg.window;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.establish(now);
      this.ackNow = true;
      // Data in a SYN-ACK is unusual; take it through the normal text step.
      if (seg.payloadLen > 0) this.processText(seg, seqAdd(seg.seq, 1), now);
      if (seg.has(TcpFlag.FIN)) this.processFin(seqAdd(seg.seq, 1 + seg.payloadLen), now);
      return;
    }
    // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT>".
    this.sndWnd = seg.window;
    this.maxSndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.setState(TcpState.SYN_RECEIVED);
    this.synPending = true;
    this.sndNxt = this.iss; // the SYN,ACK re-sends our SYN's sequence number
    this.setRto(Infinity);
  }

  /** RFC 9293 §3.10.7.4: every state from SYN-RECEIVED on. */
  private onSegmentOtherwise(seg: Segment, now: number): void {
    const rst = seg.has(TcpFlag.RST);
    const syn = seg.has(TcpFlag.SYN);

    // A retransmitted SYN in SYN-RECEIVED means our SYN,ACK was lost: send it again at once
    // (Linux tcp_check_req does the same; RFC 9293 would only ACK it, which the peer in
    // SYN-SENT must drop).
    if (this.state === TcpState.SYN_RECEIVED && syn && !rst && !seg.has(TcpFlag.ACK) && seg.seq === this.irs) {
      this.synPending = true;
      return;
    }
    if (this.state === TcpState.TIME_WAIT && syn && !rst) {
      // RFC 1122 §4.2.2.13: a new SYN above RCV.NXT may reopen a TIME-WAIT connection;
      // the TCP layer does that with its compact record, so here it is just dropped.
      return;
    }

    // RFC 7323 §5.3 R1 (PAWS), before the sequence number check: a segment whose timestamp
    // is older than TS.Recent is an old duplicate. RSTs are exempt.
    if (this.tsOk && !rst) {
      const o = seg.options;
      if (!o.hasTimestamps) {
        // RFC 7323 §3.2: once negotiated, a non-RST segment without timestamps SHOULD be dropped.
        this.dropped = 'paws';
        return;
      }
      if (seqLt(o.tsVal, this.tsRecent) && now - this.tsRecentAt < PAWS_IDLE_LIMIT) {
        this.ackNow = true;
        this.dropped = 'paws';
        return;
      }
    }

    // First, check the sequence number (the four cases of the acceptability test).
    const segLen = seg.len;
    const rcvWnd = this.rcvWnd;
    let acceptable: boolean;
    if (segLen === 0) {
      acceptable = rcvWnd === 0 ? seg.seq === this.rcvNxt : seqInRange(seg.seq, this.rcvNxt, seqAdd(this.rcvNxt, rcvWnd));
    } else if (rcvWnd === 0) {
      acceptable = false;
    } else {
      const last = seqAdd(seg.seq, segLen - 1);
      const end = seqAdd(this.rcvNxt, rcvWnd);
      acceptable = seqInRange(seg.seq, this.rcvNxt, end) || seqInRange(last, this.rcvNxt, end);
    }
    if (!acceptable) {
      // "If an incoming segment is not acceptable, an acknowledgment should be sent in
      // reply (unless the RST bit is set, if so drop the segment and return)".
      if (!rst) this.ackNow = true;
      this.dropped = 'not_acceptable';
      return;
    }
    // RFC 7323 §4.3 (2): remember the timestamp of a segment that covers Last.ACK.sent.
    if (this.tsOk && seg.options.hasTimestamps && seqGeq(seg.options.tsVal, this.tsRecent) && seqLeq(seg.seq, this.lastAckSent)) {
      this.tsRecent = seg.options.tsVal;
      this.tsRecentAt = now;
    }

    // Second, check the RST bit (RFC 5961 §3.2): reset only on an exact match of RCV.NXT;
    // anywhere else in the window draws a challenge ACK.
    if (rst) {
      if (seg.seq !== this.rcvNxt) {
        this.ackNow = true;
        return;
      }
      return this.onReset();
    }

    // Third, security: not implemented (RFC 9293 §3.10.7.4 makes it part of the MLS option).

    // Fourth, check the SYN bit: in a synchronized state (and SYN-RECEIVED), RFC 5961 §4.2
    // says to send a challenge ACK and drop, whatever the sequence number.
    if (syn) {
      if (this.state === TcpState.SYN_RECEIVED && this.passive) {
        // "If the connection was initiated with a passive OPEN, then return this
        // connection to the LISTEN state": drop the embryonic connection.
        this.enterClosed();
        return;
      }
      this.ackNow = true;
      return;
    }

    // Fifth, check the ACK field.
    if (!seg.has(TcpFlag.ACK)) return; // "if the ACK bit is off, drop the segment and return"
    if (this.state === TcpState.SYN_RECEIVED) {
      // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and continue
      // processing with the variables SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK".
      if (!(seqLt(this.sndUna, seg.ack) && seqLeq(seg.ack, this.sndNxt))) {
        // "form a reset segment <SEQ=SEG.ACK><CTL=RST> and send it".
        this.queueRst(seg.ack, 0, TcpFlag.RST);
        return;
      }
      this.sndWnd = seg.window << this.sndShift;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.rttSampleFromAck(seg, seg.ack, now);
      this.sndUna = seg.ack;
      this.establish(now);
      if (this.finQueued) this.setState(TcpState.FIN_WAIT_1);
    } else if (!this.processAck(seg, now)) {
      return;
    }
    if (this.isClosed) return;

    // Sixth, check the URG bit: RFC 6093 §4 advises against urgent data; tuntcp delivers
    // urgent bytes inline, in order, like any other data, and keeps no urgent pointer.

    // Seventh, process the segment text.
    if (seg.payloadLen > 0) this.processText(seg, seg.seq, now);
    if (this.isClosed) return;

    // Eighth, check the FIN bit.
    if (seg.has(TcpFlag.FIN)) this.processFin(seqAdd(seg.seq, (syn ? 1 : 0) + seg.payloadLen), now);
  }

  /** Why the last segment was dropped, for the TCP layer's counters; null if it was not. */
  dropped: 'not_acceptable' | 'bad_ack' | 'paws' | null = null;

  /** RFC 9293 §3.10.7.4 second check, per state. */
  private onReset(): void {
    switch (this.state) {
      case TcpState.SYN_RECEIVED:
        // Passive: "return this connection to LISTEN" (the listener never saw it).
        // Active (simultaneous open): "the connection was refused".
        if (this.passive) return this.enterClosed();
        return this.fail('ECONNREFUSED');
      case TcpState.ESTABLISHED:
      case TcpState.FIN_WAIT_1:
      case TcpState.FIN_WAIT_2:
      case TcpState.CLOSE_WAIT:
        // "Any outstanding RECEIVEs and SEND should receive 'reset' responses".
        return this.fail('ECONNRESET');
      case TcpState.CLOSING:
      case TcpState.LAST_ACK:
        return this.enterClosed();
      case TcpState.TIME_WAIT:
        // RFC 1337 §4 (TIME-WAIT assassination): ignore RST in TIME-WAIT.
        return;
      case TcpState.CLOSED:
      case TcpState.LISTEN:
      case TcpState.SYN_SENT:
        return;
      default:
        return assertNever(this.state);
    }
  }

  /**
   * RFC 9293 §3.10.7.4 fifth check in the synchronized states. Returns false when the
   * segment must be dropped.
   */
  private processAck(seg: Segment, now: number): boolean {
    const ack = seg.ack;
    // RFC 5961 §5.2: an ACK is acceptable only within (SND.UNA − MAX.SND.WND) .. SND.NXT.
    if (seqGt(ack, this.sndNxt)) {
      // "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send an ACK,
      // drop the segment, and return."
      this.ackNow = true;
      this.dropped = 'bad_ack';
      return false;
    }
    if (seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.ackNow = true;
      this.dropped = 'bad_ack';
      return false;
    }

    const flight = seqDiff(this.sndNxt, this.sndUna);
    // RFC 6675 §5: record the SACK blocks on the scoreboard.
    let newlySacked = 0;
    if (this.sackOk) {
      const o = seg.options;
      this.stats.sackBlocksIn += o.sackCount;
      for (let i = 0; i < o.sackCount; i++) {
        const added = this.scoreboard.add(o.sackBlocks[2 * i]!, o.sackBlocks[2 * i + 1]!, seqGt(ack, this.sndUna) ? ack : this.sndUna, this.sndNxt);
        SACK_ADDED[i] = added;
        newlySacked += added;
      }
    }
    // RFC 8985 §6.2 steps 1–3: what this ACK delivered updates RACK (before SND.UNA moves).
    const ackedNew = seqGt(ack, this.sndUna);
    if (this.rack !== null) this.rackOnAck(seg, ack, now);
    if (seqGt(ack, this.sndUna)) {
      // "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK" and remove what
      // is acknowledged from the retransmission queue.
      const acked = seqDiff(ack, this.sndUna);
      this.rttSampleFromAck(seg, ack, now);
      this.consumeAcked(ack);
      this.scoreboard.advance(ack);
      this.onNewAck(acked, flight, ack, now);
    } else if (ack === this.sndUna && flight > 0 && (this.isDuplicateAck(seg, flight) || newlySacked > 0)) {
      // RFC 6675 §2: an ACK that SACKs new data counts as a duplicate too.
      this.onDuplicateAck(flight, now);
    }
    // RFC 8985 §6.2 step 5 and §7.2–7.4.
    if (this.rack !== null) this.rackAfterAck(seg, ack, ackedNew, flight, now);

    // Update the send window: "If SND.UNA =< SEG.ACK =< SND.NXT ... if (SND.WL1 < SEG.SEQ
    // or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)), set SND.WND <- SEG.WND ...".
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLeq(this.sndWl2, ack))) {
      const wnd = seg.window << this.sndShift;
      if (wnd > 0 && this.sndWnd === 0) this.stopTimer(Timer.PERSIST);
      this.sndWnd = wnd;
      this.maxSndWnd = Math.max(this.maxSndWnd, wnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
    }

    // Per-state additions to the ACK processing.
    const finAcked = this.finAcked;
    switch (this.state) {
      case TcpState.FIN_WAIT_1:
        // "if the FIN segment is now acknowledged, then enter FIN-WAIT-2".
        if (finAcked) {
          this.setState(TcpState.FIN_WAIT_2);
          if (this.orphan) this.deadlines[Timer.FIN_WAIT_2] = now + this.config.finWait2Timeout;
        }
        break;
      case TcpState.CLOSING:
        // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
        if (finAcked) this.enterTimeWait(now);
        break;
      case TcpState.LAST_ACK:
        // "If our FIN is now acknowledged, delete the TCB, enter the CLOSED state".
        if (finAcked) this.enterClosed();
        break;
      case TcpState.TIME_WAIT:
        // "The only thing that can arrive in this state is a retransmission of the remote
        // FIN. Acknowledge it, and restart the 2 MSL timeout" (done in the FIN step).
        break;
      default:
        break;
    }
    return true;
  }

  /** RFC 5681 §2 "DUPLICATE ACKNOWLEDGMENT": (a)-(e). */
  private isDuplicateAck(seg: Segment, flight: number): boolean {
    return flight > 0 && seg.payloadLen === 0 && !seg.has(TcpFlag.SYN | TcpFlag.FIN) && seg.window << this.sndShift === this.sndWnd;
  }

  private onNewAck(acked: number, flight: number, ack: number, now: number): void {
    this.retries = 0;
    this.dupAcks = 0;
    if (this.inRecovery) {
      if (seqGeq(ack, this.recover)) {
        // RFC 6582 §3.2 step 6 / RFC 6675 §5: a full acknowledgment ends recovery.
        this.inRecovery = false;
        this.inflation = 0;
        this.cc.onRecoveryEnd(now);
      } else if (!this.sackOk) {
        // RFC 6582 §3.2 step 5: a partial acknowledgment retransmits the first
        // unacknowledged segment and deflates the window by the amount acknowledged,
        // adding back one SMSS if that was at least one.
        this.inflation += (acked >= this.effMss ? this.effMss : 0) - acked;
        this.retransmitFirst();
      }
      // With SACK (RFC 6675 §5 step C), the scoreboard says what to send next.
    } else {
      this.cc.onAck(acked, flight, now, this.rtt.srtt);
    }
    // The retransmission range cannot start below SND.UNA.
    if (seqLt(this.rtxNext, this.sndUna)) this.rtxNext = this.sndUna;
    if (seqLt(this.rtxEnd, this.rtxNext)) this.rtxEnd = this.rtxNext;
    if (seqLt(this.highRxt, this.sndUna)) this.highRxt = this.sndUna;
    // RFC 6298 §5.2: all outstanding data acknowledged → turn off the timer; §5.3 new data
    // acknowledged → restart it.
    if (this.sndUna === this.sndNxt) this.setRto(Infinity);
    else this.setRto(now + this.rtt.currentRto());
    if (!this.finQueued || this.sendBuf.free > 0) this.events |= ConnEvent.WRITABLE;
  }

  private onDuplicateAck(flight: number, now: number): void {
    this.dupAcks++;
    this.stats.dupAcks++;
    // RFC 8985 replaces DupThresh: RACK decides what is lost and when recovery starts.
    if (this.rack !== null) return;
    if (this.inRecovery) {
      // RFC 5681 §3.2 step 4: NewReno inflates by one SMSS per further duplicate ACK;
      // with SACK the pipe estimate already accounts for what left the network.
      if (!this.sackOk) this.inflation += this.effMss;
      return;
    }
    // RFC 5681 §3.2 step 2 / RFC 6675 §5 step C: DupThresh duplicate ACKs, or a SACK
    // scoreboard that shows the first segment lost, start fast retransmit — unless the
    // ACK only covers data sent before the last recovery began (RFC 6582 §3.2 step 2).
    const thresh = this.dupThresh(flight);
    const lost = this.sackOk && this.scoreboard.sackedAbove(this.sndUna) > (thresh - 1) * this.effMss;
    if ((this.dupAcks >= thresh || lost) && seqGeq(this.sndUna, this.recover)) {
      this.inRecovery = true;
      this.stats.fastRetransmits++;
      this.recover = this.sndNxt;
      this.highRxt = this.sndUna;
      this.cc.onCongestionEvent(flight, now);
      // RFC 5681 §3.2 step 3: NewReno's inflation by the three segments that left.
      this.inflation = this.sackOk ? 0 : DUP_THRESH * this.effMss;
      this.retransmitFirst();
    }
  }

  /**
   * The duplicate-ACK threshold. RFC 5827 (Early Retransmit): with fewer than four
   * segments outstanding and no new data to send, three duplicate ACKs may never come, so
   * the threshold is one less than the number of segments outstanding.
   */
  private dupThresh(flight: number): number {
    const segments = Math.ceil(flight / this.effMss);
    if (segments >= DUP_THRESH + 1 || this.unsentBytes() > 0) return DUP_THRESH;
    return Math.max(1, segments - 1);
  }

  /**
   * RFC 6675 §4 NextSeg rule 1: the first unSACKed byte above HighRxt that IsLost; fills
   * `HOLE`.
   */
  private nextLostHole(): boolean {
    const sb = this.scoreboard;
    const edge = sb.lossEdge(this.effMss, DUP_THRESH, this.sndUna);
    return sb.nextHole(seqMax(this.highRxt, this.sndUna), edge, HOLE);
  }

  /**
   * RFC 6675 §4 SetPipe: bytes still in the network — outstanding, less what is SACKed,
   * less what is lost and not yet retransmitted.
   */
  private pipe(): number {
    const sb = this.scoreboard;
    const outstanding = seqDiff(this.sndNxt, this.sndUna) - sb.sacked;
    const edge = sb.lossEdge(this.effMss, DUP_THRESH, this.sndUna);
    return outstanding - sb.holesBetween(seqMax(this.highRxt, this.sndUna), edge);
  }

  /** Queue the first unacknowledged segment for retransmission. */
  private retransmitFirst(): void {
    this.rtxNext = this.sndUna;
    let end = seqAdd(this.sndUna, Math.min(this.effMss, seqDiff(this.sndNxt, this.sndUna)));
    if (this.sackOk && this.scoreboard.nextHole(this.sndUna, end, HOLE)) end = HOLE.end;
    this.rtxEnd = end;
    if (seqGt(end, this.highRxt)) this.highRxt = end;
    this.rttTiming = false; // RFC 6298 §3 (Karn)
  }

  /** Drop acknowledged data from the send buffer and advance SND.UNA. */
  private consumeAcked(ack: number): void {
    // The FIN occupies sequence space but not the buffer.
    const data = Math.min(seqDiff(ack, this.sndUna), this.sendBuf.length);
    this.sendBuf.consume(data);
    this.stats.bytesOut += data;
    this.sndUna = ack;
  }

  /** Our FIN has been sent and acknowledged. */
  private get finAcked(): boolean {
    return this.finSent && seqGt(this.sndUna, this.finSeq);
  }

  /**
   * RFC 6298 §2 samples: with timestamps, from the echoed timestamp of an ACK that
   * advances SND.UNA (RFC 7323 §4.2, valid even for retransmissions); otherwise from the
   * one timed segment (RFC 6298 §3, Karn's rule: never a retransmission).
   */
  private rttSampleFromAck(seg: Segment, ack: number, now: number): void {
    if (this.tsOk && seg.options.hasTimestamps && seg.options.tsEcr !== 0) {
      const rtt = seqDiff(this.tsNow(now), seg.options.tsEcr);
      // With RACK's log we know when the first byte this ACK acknowledges was last sent.
      // An echo older than that is from an earlier transmission, or an old TS.Recent
      // that a duplicate drew (RFC 7323 §4.3 does not update it for those): it would
      // count loss and backed-off timeouts into the RTT. RFC 7323 §4.2 lets the sender
      // use a sample ("MAY"), so it takes only the unambiguous ones.
      if (rtt >= 0 && !this.staleEcho) {
        this.rtt.sample(rtt);
        this.rack?.onRttSample(rtt);
      }
      this.rttTiming = false;
      return;
    }
    if (this.rttTiming && seqGeq(ack, this.rttSeq)) {
      this.rtt.sample(now - this.rttStart);
      this.rack?.onRttSample(now - this.rttStart);
      this.rttTiming = false;
    }
  }

  // ---------------------------------------------------------------------------------
  // RACK-TLP (RFC 8985)

  /**
   * RFC 8985 §6.2 steps 1–3 for an acceptable ACK: the segments it cumulatively
   * acknowledges, then those its SACK blocks newly cover, in ascending sequence order,
   * update RACK.min_RTT, RACK.rtt, RACK.xmit_ts/end_seq and the reordering detection.
   */
  private rackOnAck(seg: Segment, ack: number, now: number): void {
    const rack = this.rack!;
    const o = seg.options;
    // When the segment whose timestamp this ACK echoes was sent (our TSval is whole ms
    // plus an offset; see tsNow), for §6.2 step 2's first test.
    const echoedAt = this.tsOk && o.hasTimestamps && o.tsEcr !== 0 ? Math.floor(now) - seqDiff(this.tsNow(now), o.tsEcr) : Infinity;
    rack.beginAck(echoedAt);
    this.staleEcho = false;
    if (seqGt(ack, this.sndUna)) {
      this.staleEcho = rack.log.length > 0 && Math.floor(rack.log.xmitTs(0)) > echoedAt;
      rack.cumulativeAck(ack, now);
    }
    // The blocks in ascending order (a receiver puts the most recent first, RFC 2018 §4);
    // a block that SACKed nothing new has nothing to deliver.
    const n = this.sackOk ? o.sackCount : 0;
    const order = SACK_ORDER;
    for (let i = 0; i < n; i++) {
      let j = i;
      while (j > 0 && seqLt(o.sackBlocks[2 * i]!, o.sackBlocks[2 * order[j - 1]!]!)) {
        order[j] = order[j - 1]!;
        j--;
      }
      order[j] = i;
    }
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      if (SACK_ADDED[i]! > 0) rack.sack(o.sackBlocks[2 * i]!, o.sackBlocks[2 * i + 1]!, now);
    }
    rack.endAck(now);
  }

  /** After an ACK: TLP bookkeeping (RFC 8985 §7.4), loss detection (§6.2 step 5), the PTO (§7.2). */
  private rackAfterAck(seg: Segment, ack: number, ackedNew: boolean, flight: number, now: number): void {
    const rack = this.rack!;
    if (rack.tlpActive && seqGeq(ack, rack.tlpEndSeq)) {
      // RFC 8985 §7.4 (simplified): the probe is acknowledged. A probe of new data needs
      // nothing more: if the tail before it was lost, RACK sees that from the probe's
      // delivery. A retransmitted probe that is acknowledged, with no D-SACK (RFC 2883
      // §4: a first block below the ACK) saying the original arrived too, repaired a lost
      // tail: that loss gets the congestion response recovery would have given it.
      rack.tlpActive = false;
      const o = seg.options;
      const dsack = o.sackCount > 0 && seqLeq(o.sackBlocks[1]!, ack);
      if (rack.tlpIsRetrans && !dsack && !this.inRecovery) this.cc.onCongestionEvent(flight, now);
    }
    this.rackDetectLoss(now);
    // §7.2: an ACK that cumulatively acknowledges new data restarts the probe timer.
    if (ackedNew) this.armProbe(now);
  }

  /**
   * RFC 8985 §6.2 step 5 (RACK_detect_loss_and_arm_timer), after an ACK or when the
   * reordering timer fires: mark what is lost, start recovery if this is a new loss
   * episode (RFC 8985 §9.3 with RFC 6675 §5's window reduction, once per episode), and arm
   * the reordering timer for the next segment that may yet be declared lost.
   */
  private rackDetectLoss(now: number): void {
    const rack = this.rack!;
    const lossRecovery = this.inRecovery || seqLt(this.sndUna, this.recover);
    this.reoAt = rack.detectLoss(now, rack.reoWnd(lossRecovery, this.rtt.srtt));
    if (rack.lostNow > 0) {
      this.stats.rackLost += rack.lostNow;
      // RFC 6582 §3.2 step 2 / RFC 6675 §5: losses in data sent before the last recovery
      // (or timeout) began belong to that episode: resend them, reduce the window once.
      if (!this.inRecovery && seqGeq(this.sndUna, this.recover)) {
        const flight = seqDiff(this.sndNxt, this.sndUna);
        this.inRecovery = true;
        this.stats.fastRetransmits++;
        this.recover = this.sndNxt;
        this.highRxt = this.sndUna;
        this.inflation = 0;
        this.cc.onCongestionEvent(flight, now);
        this.rtxForce = true;
        this.rttTiming = false; // RFC 6298 §3 (Karn)
      }
      // §7.2: no probe during recovery.
      this.ptoAt = Infinity;
      this.tlpPending = false;
    }
    this.syncLossTimer();
  }

  /**
   * RFC 8985 §7.2: a probe may be scheduled when data is outstanding, no loss recovery
   * (fast or after a timeout) is under way, nothing is SACKed (RACK's reordering timer
   * has that case) or marked lost, no probe is outstanding (§7.3: at most one), and the
   * peer's window is open (a closed one is the persist timer's business).
   */
  private canProbe(): boolean {
    const rack = this.rack;
    if (rack === null || rack.tlpActive || this.inRecovery || seqLt(this.sndUna, this.recover)) return false;
    return rack.log.sackedSegs === 0 && rack.log.lostBytes === 0 && this.sndWnd > 0 && isSynchronized(this.state);
  }

  /** RFC 8985 §7.2: start or restart the probe timeout (TLP_calc_PTO), or cancel it. */
  private armProbe(now: number): void {
    if (this.sndUna === this.sndNxt || !this.canProbe()) {
      this.ptoAt = Infinity;
    } else {
      const flight = seqDiff(this.sndNxt, this.sndUna);
      this.ptoAt = probeDeadline(now, this.rtt.hasSample, this.rtt.srtt, flight <= this.effMss, this.rtoAt);
    }
    this.syncLossTimer();
  }

  /**
   * RFC 9293 §3.10.7.4 seventh step: in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2, deliver
   * the text to the receive buffer and advance RCV.NXT; elsewhere the peer has already
   * sent its FIN, so text is ignored. `seq` is the sequence number of the first payload byte.
   */
  private processText(seg: Segment, seq: number, now: number): void {
    if (this.state !== TcpState.ESTABLISHED && this.state !== TcpState.FIN_WAIT_1 && this.state !== TcpState.FIN_WAIT_2) return;
    if (this.orphan) {
      // Data for a connection the application has closed can never be read: reset it
      // (RFC 2525 §2.17; Linux does the same).
      this.abort(now);
      this.fail('ECONNRESET');
      return;
    }
    let off = seg.payloadOff;
    let len = seg.payloadLen;
    let rel = seqDiff(seq, this.rcvNxt);
    if (rel < 0) {
      // Trim what we already have (RFC 9293 §3.10.7.4 first check: "trimmed to the window").
      off -= rel;
      len += rel;
      rel = 0;
    }
    if (len <= 0) {
      this.ackNow = true;
      return;
    }
    const hadGap = this.recvBuf.outOfOrderBytes > 0;
    const advanced = this.recvBuf.write(rel, seg.buf, off, len);
    if (advanced > 0) {
      this.dupAcksOwed = 0;
      this.rcvNxt = seqAdd(this.rcvNxt, advanced);
      this.stats.bytesIn += advanced;
      this.events |= ConnEvent.READABLE;
      if (this.pendingFin >= 0 && this.pendingFin === this.rcvNxt) {
        this.pendingFin = -1;
        this.processFin(this.rcvNxt, now);
      }
    }
    if (rel > 0 && advanced === 0) {
      this.dupAcksOwed++;
      this.stats.outOfOrderBytes += len;
    }
    if (rel > 0 || hadGap || advanced === 0) {
      // RFC 5681 §4.2: an out-of-order segment, or one that fills a gap, is acknowledged at
      // once; so is one we could not store (the window we offered is full).
      this.ackNow = true;
      return;
    }
    // RFC 9293 §3.8.6.3 and RFC 5681 §4.2: delay the ACK, but acknowledge at least every
    // second full-sized segment.
    this.unackedSegments++;
    if (this.unackedSegments >= 2) this.ackNow = true;
    else if (this.deadlines[Timer.DELAYED_ACK] === Infinity) this.deadlines[Timer.DELAYED_ACK] = now + this.config.delayedAck;
  }

  /** RFC 9293 §3.10.7.4 eighth step: the FIN at sequence number `finSeq`. */
  private processFin(finSeq: number, now: number): void {
    if (finSeq !== this.rcvNxt) {
      // The FIN is beyond a gap: remember it until the data before it arrives.
      if (seqGt(finSeq, this.rcvNxt)) this.pendingFin = finSeq;
      return;
    }
    if (this.finReceived) {
      // A retransmitted FIN: acknowledge it again; in TIME-WAIT restart the 2 MSL timer.
      this.ackNow = true;
      if (this.state === TcpState.TIME_WAIT) this.deadlines[Timer.TIME_WAIT] = now + 2 * this.config.msl;
      return;
    }
    // "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN", and signal
    // "connection closing" to the user.
    this.finReceived = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.events |= ConnEvent.END;
    switch (this.state) {
      case TcpState.SYN_RECEIVED:
      case TcpState.ESTABLISHED:
        // The acknowledgment may wait like any other (RFC 1122 §4.2.3.2, as Linux does):
        // an application that closes as soon as it reads the end sends its FIN within the
        // delayed-ACK time, and the ACK rides on it — the merged three-way teardown.
        if (this.deadlines[Timer.DELAYED_ACK] === Infinity) this.deadlines[Timer.DELAYED_ACK] = now + this.config.delayedAck;
        return this.setState(TcpState.CLOSE_WAIT);
      case TcpState.FIN_WAIT_1: {
        this.ackNow = true;
        // "If our FIN has been ACKed ... enter TIME-WAIT ... otherwise, enter the CLOSING state."
        if (this.finAcked) return this.enterTimeWait(now);
        return this.setState(TcpState.CLOSING);
      }
      case TcpState.FIN_WAIT_2:
        this.ackNow = true;
        return this.enterTimeWait(now);
      case TcpState.CLOSE_WAIT:
      case TcpState.CLOSING:
      case TcpState.LAST_ACK:
      case TcpState.TIME_WAIT:
      case TcpState.CLOSED:
      case TcpState.LISTEN:
      case TcpState.SYN_SENT:
        return;
      default:
        return assertNever(this.state);
    }
  }

  // ---------------------------------------------------------------------------------
  // Timers

  nextDeadline(): number {
    const d = this.deadlines;
    let t = d[0]!;
    for (let i = 1; i < TIMER_COUNT; i++) if (d[i]! < t) t = d[i]!;
    return t;
  }

  /** Run every timer whose deadline has passed. */
  onTimer(now: number): void {
    this.now = now;
    const d = this.deadlines;
    if (d[Timer.TIME_WAIT]! <= now) {
      // RFC 9293 §3.10.8 "Time-Wait Timeout": delete the TCB, enter CLOSED.
      d[Timer.TIME_WAIT] = Infinity;
      this.fired(Timer.TIME_WAIT);
      return this.enterClosed();
    }
    if (d[Timer.CONNECT]! <= now) {
      d[Timer.CONNECT] = Infinity;
      this.fired(Timer.CONNECT);
      if (this.state === TcpState.SYN_SENT || this.state === TcpState.SYN_RECEIVED) return this.timeout();
    }
    if (d[Timer.FIN_WAIT_2]! <= now) {
      d[Timer.FIN_WAIT_2] = Infinity;
      this.fired(Timer.FIN_WAIT_2);
      if (this.state === TcpState.FIN_WAIT_2) return this.enterClosed();
    }
    if (d[Timer.RETRANSMIT]! <= now) this.onLossTimer(now);
    if (this.isClosed) return;
    if (d[Timer.DELAYED_ACK]! <= now) {
      d[Timer.DELAYED_ACK] = Infinity;
      this.fired(Timer.DELAYED_ACK);
      this.ackNow = true;
    }
    if (d[Timer.PERSIST]! <= now) this.onPersistTimeout(now);
    if (d[Timer.KEEPALIVE]! <= now) this.onKeepaliveTimeout(now);
  }

  /**
   * The loss-detection timer (see `Timer`) fired: whichever of its deadlines are due run,
   * reordering timer first (its losses start recovery, which cancels the probe), then the
   * probe timeout (which restarts the RTO), then the RTO.
   */
  private onLossTimer(now: number): void {
    this.fired(Timer.RETRANSMIT);
    if (this.reoAt <= now) {
      // RFC 8985 §6.2: the reordering timer runs RACK_detect_loss_and_arm_timer again.
      this.reoAt = Infinity;
      if (this.rack !== null) this.rackDetectLoss(now);
    }
    if (this.ptoAt <= now) {
      this.ptoAt = Infinity;
      this.onProbeTimeout(now);
    }
    if (this.rtoAt <= now) this.onRetransmitTimeout(now);
    if (!this.isClosed) this.syncLossTimer();
  }

  /**
   * RFC 8985 §7.3: the probe timeout fired. The next segment out is the probe (fillData);
   * the RTO is restarted behind it.
   */
  private onProbeTimeout(now: number): void {
    if (this.rack === null || this.sndUna === this.sndNxt || !this.canProbe()) return;
    this.tlpPending = true;
    this.rtoAt = now + this.rtt.currentRto();
  }

  /** RFC 6298 §5.4–5.7. */
  private onRetransmitTimeout(now: number): void {
    this.rtoAt = Infinity;
    if (this.sndUna === this.sndNxt && !this.synPending) return;
    const limit = this.state === TcpState.SYN_SENT ? this.config.synRetries : this.state === TcpState.SYN_RECEIVED ? this.config.synAckRetries : this.config.maxRetries;
    // A zero window is not a dead peer: while it keeps answering our probes, retransmissions
    // are window probes and do not count toward the limit (RFC 1122 §4.2.2.17; Linux's
    // tcp_probe_timer makes the same call).
    const probing = this.sndWnd === 0 && now - this.lastRecv < this.config.maxRto;
    if (this.retries >= limit && !probing) return this.timeout();
    if (!probing) this.retries++;
    this.stats.timeouts++;
    // §5.5: back off the timer; §5.4: retransmit the earliest unacknowledged segment. We go
    // back to SND.UNA and resend as the congestion window allows (all of it presumed lost).
    this.rtt.backoff();
    this.rttTiming = false;
    if (this.state === TcpState.SYN_SENT || this.state === TcpState.SYN_RECEIVED) {
      this.synPending = true;
      this.sndNxt = this.iss;
      this.synTimedOut = true;
    } else {
      this.cc.onTimeout(seqDiff(this.sndNxt, this.sndUna));
      this.inRecovery = false;
      this.inflation = 0;
      // RFC 2018 §8: after a timeout the receiver may have reneged on what it SACKed. RFC
      // 6675 §5.1 (with its erratum) allows keeping the scoreboard given a test for
      // reneging: ours is a second timeout of the same data, which clears it.
      if (this.retries > 1) {
        this.scoreboard.clear();
        this.rack?.log.clearSacked();
      }
      this.highRxt = this.sndUna;
      this.recover = this.sndNxt; // RFC 6582 §3.2 step 4 after a timeout
      this.dupAcks = 0;
      const rack = this.rack;
      if (rack !== null) {
        // RFC 8985 §6.3: RACK marks what the timeout shows lost, and those marks drive the
        // retransmissions (the first one whatever the pipe: RFC 6298 §5.4).
        rack.markLostOnRto(now, rack.reoWnd(true, this.rtt.srtt));
        this.stats.rackLost += rack.lostNow;
        this.rtxForce = true;
        this.tlpPending = false;
        this.reoAt = this.ptoAt = Infinity;
      } else {
        this.rtxNext = this.sndUna;
        this.rtxEnd = this.sndNxt;
      }
    }
    // §5.6: start the timer again with the backed-off RTO (when the segment goes out).
    this.setRto(now + this.rtt.currentRto());
  }

  /**
   * RFC 9293 §3.8.6.1 (zero-window probing): while the peer offers no window and we have
   * data, send one byte past the window every RTO, backing off; RFC 1122 §4.2.2.17 says to
   * keep probing as long as the peer answers.
   */
  private onPersistTimeout(_now: number): void {
    this.deadlines[Timer.PERSIST] = Infinity;
    this.fired(Timer.PERSIST);
    // The probe is one byte of new data; from then on the retransmission timer repeats
    // it with backoff, and does not count toward the retry limit while the peer keeps
    // answering (see onRetransmitTimeout).
    if (this.sndWnd === 0 && this.unsentBytes() > 0) this.probePending = true;
  }

  /** RFC 1122 §4.2.3.6: a keepalive is a segment with SEG.SEQ = SND.NXT − 1 and no data. */
  private onKeepaliveTimeout(now: number): void {
    this.deadlines[Timer.KEEPALIVE] = Infinity;
    this.fired(Timer.KEEPALIVE);
    if (!this.keepAlive || !isSynchronized(this.state)) return;
    if (this.keepaliveSent >= this.config.keepaliveProbes) return this.timeout();
    this.keepaliveSent++;
    this.keepalivePending = true;
    this.deadlines[Timer.KEEPALIVE] = now + this.config.keepaliveInterval;
  }

  // ---------------------------------------------------------------------------------
  // Output

  /** RCV.WND: what is left of the window we advertised. */
  get rcvWnd(): number {
    return Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt));
  }

  /** Bytes in the send buffer not yet sent. */
  private unsentBytes(): number {
    if (!isSynchronized(this.state) && this.state !== TcpState.SYN_RECEIVED) return 0;
    return this.sendBuf.length - this.dataOffsetOf(this.sndNxt);
  }

  /** Offset in the send buffer of the data byte with sequence number `seq`. */
  private dataOffsetOf(seq: number): number {
    return Math.max(0, Math.min(seqDiff(seq, this.sndUna), this.sendBuf.length));
  }

  /** The window field to send now, scaled, with the right edge never moving left. */
  private windowToAdvertise(syn: boolean): number {
    const space = this.recvBuf.window;
    const offered = Math.max(0, seqDiff(this.rcvAdvRight, this.rcvNxt));
    // RFC 9293 §3.8.6.2.2: move the right edge only by a worthwhile amount.
    let wnd = space - offered >= Math.min(this.recvBuf.capacity >> 1, this.config.mss) ? space : offered;
    if (syn) {
      wnd = Math.min(wnd, 0xffff); // RFC 7323 §2.2: never scaled in a SYN
      this.rcvAdvRight = seqAdd(this.rcvNxt, wnd);
      return wnd;
    }
    const field = Math.min(0xffff, Math.ceil(wnd / (1 << this.rcvShift)));
    this.rcvAdvRight = seqMax(this.rcvAdvRight, seqAdd(this.rcvNxt, field << this.rcvShift));
    return field;
  }

  /**
   * Fill `out` with the next segment to send, or return false when there is nothing to
   * send now. Call repeatedly until false after any input.
   */
  pollSegment(out: SegmentOut, now: number): boolean {
    this.now = now;
    out.reset();
    if (this.rstPending) {
      this.rstPending = false;
      out.seq = this.rstSeq;
      out.ack = this.rstAck;
      out.flags = this.rstFlags;
      return this.emitted(out);
    }
    switch (this.state) {
      case TcpState.CLOSED:
      case TcpState.LISTEN:
        return false;
      case TcpState.SYN_SENT:
        if (!this.synPending) return false;
        return this.fillSyn(out, TcpFlag.SYN, now);
      case TcpState.SYN_RECEIVED:
        if (this.synPending) return this.fillSyn(out, TcpFlag.SYN | TcpFlag.ACK, now);
        return this.fillAckOnly(out, now);
      case TcpState.TIME_WAIT:
      case TcpState.FIN_WAIT_2:
        return this.fillAckOnly(out, now);
      case TcpState.ESTABLISHED:
      case TcpState.FIN_WAIT_1:
      case TcpState.CLOSE_WAIT:
      case TcpState.CLOSING:
      case TcpState.LAST_ACK:
        return this.fillData(out, now) || this.fillAckOnly(out, now);
      default:
        return assertNever(this.state);
    }
  }

  private fillSyn(out: SegmentOut, flags: number, now: number): boolean {
    this.synPending = false;
    out.seq = this.iss;
    out.ack = flags & TcpFlag.ACK ? this.rcvNxt : 0;
    out.flags = flags;
    // A SYN offers MSS, window scaling (RFC 7323 §2.2), SACK (RFC 2018 §2) and timestamps
    // (RFC 7323 §3.2); a SYN,ACK answers only the offers the peer's SYN made.
    const answer = (flags & TcpFlag.ACK) !== 0;
    const o = out.options;
    o.mss = this.config.mss;
    if (answer ? this.scalingAgreed : this.config.windowScaling) o.windowScale = this.rcvShift;
    if (answer ? this.sackOk : this.config.sack) o.sackPermitted = true;
    if (answer ? this.tsOk : this.config.timestamps) {
      o.hasTimestamps = true;
      o.tsVal = this.tsNow(now);
      o.tsEcr = answer ? this.tsRecent : 0;
    }
    out.window = this.windowToAdvertise(true);
    out.retransmit = this.sndNxt !== this.iss || this.retries > 0;
    this.sndNxt = seqAdd(this.iss, 1);
    if (this.rtoAt === Infinity) this.setRto(now + this.rtt.currentRto());
    if (!out.retransmit && !this.rttTiming) {
      this.rttTiming = true;
      this.rttSeq = this.sndNxt;
      this.rttStart = now;
    }
    return this.emitted(out);
  }

  private fillData(out: SegmentOut, now: number): boolean {
    // Options first: timestamps and SACK blocks take room from the data (RFC 6691 §2).
    this.addOptions(out.options, now);
    const mss = this.sndMss - tcpOptionsLength(out.options, false);
    // (Equal to effMss unless SACK blocks ride along.)
    // Sequence number after the last data byte; a queued FIN takes that number.
    const dataEnd = seqAdd(this.sndUna, this.sendBuf.length);
    const cwnd = this.cc.cwnd + this.inflation;
    const rack = this.rack;
    let retransmitting = false;
    let seq = this.sndNxt;
    let upTo = dataEnd;
    let room: number;
    /** This segment is a tail loss probe (RFC 8985 §7.3). */
    let probe = false;
    if (rack !== null) {
      // RACK-TLP: the pipe is what RACK's marks leave in flight (RFC 6675 §4 SetPipe
      // with RFC 8985's IsLost), in and out of recovery alike.
      const pipe = rack.log.pipe;
      if (this.tlpPending) {
        // RFC 8985 §7.3: one new segment if there is one and the receive window allows
        // it; else the highest-sequence segment again. The probe ignores cwnd.
        this.tlpPending = false;
        if (seqLt(seq, dataEnd) && seqDiff(seqAdd(this.sndUna, this.sndWnd), seq) > 0) {
          probe = true;
        } else if (rack.log.lastUnsacked(HOLE)) {
          probe = true;
          retransmitting = true;
          seq = seqMax(HOLE.start, seqAdd(HOLE.end, -mss));
          upTo = seqMin(HOLE.end, dataEnd);
        }
      }
      if (probe) {
        room = retransmitting ? mss : Math.min(mss, seqDiff(seqAdd(this.sndUna, this.sndWnd), seq));
      } else if ((this.rtxForce || cwnd - pipe >= mss) && rack.log.firstLostHole(this.scoreboard, HOLE)) {
        // RFC 6675 §4 NextSeg rule 1: the first segment RACK marked lost — including a
        // lost retransmission, found without waiting for the RTO.
        retransmitting = true;
        seq = HOLE.start;
        upTo = seqMin(HOLE.end, dataEnd);
        room = mss;
      } else {
        // NextSeg rule 2: new data, as the window and cwnd − pipe allow.
        this.rtxForce = false;
        room = Math.min(seqDiff(seqAdd(this.sndUna, this.sndWnd), seq), cwnd - pipe);
      }
    } else {
      const sackRecovery = this.inRecovery && this.sackOk;
      const pipe = sackRecovery ? this.pipe() : seqDiff(this.sndNxt, this.sndUna);
      // What to send: a queued retransmission (fast retransmit, NewReno partial ACK, or
      // go-back-N after a timeout); else, in SACK recovery, the next lost hole (RFC 6675 §4
      // NextSeg rule 1); else new data.
      let rtxLimit = this.rtxEnd;
      if (this.sackOk && seqLt(this.rtxNext, this.rtxEnd) && this.scoreboard.rangeCount > 0) {
        // Resend only what the receiver does not hold (RFC 6675 §5.1 lets the scoreboard
        // outlive a timeout; see onRetransmitTimeout for reneging).
        if (this.scoreboard.nextHole(this.rtxNext, this.rtxEnd, HOLE)) {
          this.rtxNext = HOLE.start;
          rtxLimit = HOLE.end;
        } else {
          this.rtxNext = this.rtxEnd;
        }
      }
      retransmitting = seqLt(this.rtxNext, this.rtxEnd);
      seq = retransmitting ? this.rtxNext : this.sndNxt;
      upTo = retransmitting ? seqMin(rtxLimit, dataEnd) : dataEnd;
      if (retransmitting) {
        // In fast recovery the lost segment goes regardless (RFC 5681 §3.2 step 2); after a
        // timeout, everything unSACKed from rtxNext on is presumed lost, so only what was
        // resent below it counts as in flight.
        const inFlight = this.sackOk ? this.scoreboard.holesBetween(this.sndUna, this.rtxNext) : seqDiff(this.rtxNext, this.sndUna);
        room = this.inRecovery ? mss : cwnd - inFlight;
      } else if (sackRecovery && cwnd - pipe >= mss && this.nextLostHole()) {
        retransmitting = true;
        seq = HOLE.start;
        upTo = seqMin(HOLE.end, dataEnd);
        room = mss;
      } else {
        // RFC 3042 (Limited Transmit): on the first two duplicate ACKs, one new segment each
        // beyond cwnd, so that a small window still draws enough ACKs for fast retransmit.
        const limited = this.inRecovery ? 0 : Math.min(this.dupAcks, 2) * mss;
        room = Math.min(seqDiff(seqAdd(this.sndUna, this.sndWnd), seq), cwnd + limited - pipe);
      }
    }
    const wndRoom = seqDiff(seqAdd(this.sndUna, this.sndWnd), seq);
    const available = Math.max(0, seqDiff(upTo, seq));
    let len = Math.max(0, Math.min(mss, available, room));
    const tsoMax = this.config.tsoMax;
    if (tsoMax > mss && !retransmitting && !probe && len === mss) {
      // TSO: new data goes as one packet of several MSS-sized segments, which the link
      // cuts apart. Whole segments only, but for the tail of the data; what the window
      // leaves over waits for the next packet (and Nagle, below).
      len = Math.min(tsoMax - (tsoMax % mss), available, room);
      if (len < available) len -= len % mss;
    }
    // The FIN follows the last data byte: sent once, and again with a retransmission that
    // reaches the end of the data.
    const wantFin = this.finQueued && seqAdd(seq, len) === dataEnd && (retransmitting ? this.finSent : !this.finSent);

    if (this.probePending) {
      // Zero-window probe: one byte beyond the window (RFC 9293 §3.8.6.1).
      this.probePending = false;
      if (len === 0 && !retransmitting && available > 0) len = 1;
    }
    if (this.keepalivePending) {
      this.keepalivePending = false;
      if (len === 0 && !wantFin) {
        // RFC 1122 §4.2.3.6: <SEQ=SND.NXT-1>, no data, to draw an ACK.
        out.seq = seqAdd(this.sndNxt, -1);
        out.ack = this.rcvNxt;
        out.flags = TcpFlag.ACK;
        out.window = this.windowToAdvertise(false);
        return this.emitted(out);
      }
    }

    if (len === 0 && !wantFin) {
      // Nothing may go. If the peer's window is what stops data, and nothing is in flight
      // to bring a window update, start the persist timer (RFC 9293 §3.8.6.1).
      if (available > 0 && wndRoom <= 0 && this.sndUna === this.sndNxt && this.deadlines[Timer.PERSIST] === Infinity) {
        this.deadlines[Timer.PERSIST] = now + Math.max(PERSIST_MIN, this.rtt.currentRto());
      }
      return false;
    }
    if (!retransmitting && !probe && len > 0 && len < mss && !wantFin && this.sndUna !== this.sndNxt) {
      // A small segment while data is unacknowledged: RFC 1122 §4.2.3.4 (Nagle) holds it
      // unless the application asked for no delay; RFC 9293 §3.8.6.2.1 (sender SWS
      // avoidance) holds it when the window, not the data, limits it.
      if (!this.noDelay) return false;
      if (len < available && len < this.maxSndWnd >> 1) return false;
    }

    out.seq = seq;
    out.ack = this.rcvNxt;
    out.flags = TcpFlag.ACK | (wantFin ? TcpFlag.FIN : 0) | (len > 0 && seqAdd(seq, len) === dataEnd ? TcpFlag.PSH : 0);
    out.window = this.windowToAdvertise(false);
    out.dataFrom = seqDiff(seq, this.sndUna);
    out.dataLen = len;
    out.retransmit = retransmitting;
    const next = seqAdd(seq, len + (wantFin ? 1 : 0));
    if (wantFin && !this.finSent) {
      this.finSent = true;
      this.finSeq = dataEnd;
    }
    if (retransmitting) {
      if (seqLt(this.rtxNext, this.rtxEnd) && seq === this.rtxNext) this.rtxNext = next;
      if (seqGt(next, this.highRxt)) this.highRxt = next;
    } else {
      this.sndNxt = next;
      if (!this.rttTiming && len > 0) {
        this.rttTiming = true;
        this.rttSeq = next;
        this.rttStart = now;
      }
    }
    // RFC 6298 §5.1: start the timer when sending data if it is not running.
    if (this.rtoAt === Infinity) this.setRto(now + this.rtt.currentRto());
    if (rack !== null) {
      // RFC 8985 §6.1: every data segment's latest transmit time, in the log.
      if (retransmitting) {
        rack.log.retransmitted(seq, next, now);
        this.rtxForce = false;
        this.rttTiming = false; // RFC 6298 §3 (Karn)
      } else {
        rack.log.append(seq, next, now);
      }
      if (probe) {
        // §7.3: TLP.end_seq = SND.NXT; at most one probe is outstanding.
        rack.probeSent(this.sndNxt, retransmitting);
        this.stats.tlpProbes++;
      } else if (!retransmitting) {
        // §7.2: new data (not a probe) restarts the probe timer.
        this.armProbe(now);
      }
    }
    return this.emitted(out);
  }

  private fillAckOnly(out: SegmentOut, now: number): boolean {
    if (!this.ackNow && this.dupAcksOwed === 0) return false;
    out.seq = this.sndNxt;
    out.ack = this.rcvNxt;
    out.flags = TcpFlag.ACK;
    out.window = this.windowToAdvertise(false);
    this.addOptions(out.options, now);
    return this.emitted(out);
  }

  /** Bookkeeping common to every segment sent: it carries an ACK, so none is owed. */
  private emitted(out: SegmentOut): boolean {
    this.stats.segmentsOut++;
    this.stats.sackBlocksOut += out.options.sackCount;
    if (out.retransmit) this.stats.retransmits++;
    if (out.flags & TcpFlag.ACK) {
      this.lastAckSent = out.ack;
      this.ackNow = false;
      if (this.dupAcksOwed > 0 && out.dataLen === 0 && (out.flags & (TcpFlag.SYN | TcpFlag.FIN | TcpFlag.RST)) === 0) this.dupAcksOwed--;
      this.unackedSegments = 0;
      this.deadlines[Timer.DELAYED_ACK] = Infinity;
    }
    return true;
  }

  /** Next application event (lowest bit first), or 0 when there is none. */
  pollEvent(): number {
    const e = this.events;
    if (e === 0) return 0;
    const bit = e & -e;
    this.events = e & ~bit;
    return bit;
  }

  get hasEvents(): boolean {
    return this.events !== 0;
  }

  /** The error behind the last ERROR event. */
  get error(): ConnErrorCode | null {
    return this.errorCode;
  }

  // ---------------------------------------------------------------------------------
  // State changes

  /** A read of `state` that the compiler does not narrow (state changes inside calls). */
  get isClosed(): boolean {
    return this.state === TcpState.CLOSED;
  }

  private setState(s: TcpState): void {
    const from = this.state;
    this.state = s;
    if (this.tracer !== null && from !== s) this.tracer.stateChange(this, from, s, this.now);
  }

  private fired(t: Timer): void {
    if (this.tracer !== null) this.tracer.timerFired(this, t, this.now);
  }

  private establish(now: number): void {
    this.setState(TcpState.ESTABLISHED);
    this.stopTimer(Timer.CONNECT);
    this.retries = 0;
    // RFC 6298 §5.7: if the SYN or SYN,ACK timed out and no RTT sample has been taken
    // since, RTO is 3 s once data transmission begins.
    if (this.synTimedOut && !this.rtt.hasSample) this.rtt.afterSynTimeout();
    this.rtxNext = this.rtxEnd = this.sndNxt;
    this.recover = this.iss;
    this.rack?.reset(this.sndNxt);
    if (this.sndUna === this.sndNxt) this.setRto(Infinity);
    if (this.keepAlive) this.deadlines[Timer.KEEPALIVE] = now + this.keepaliveIdle;
    this.events |= ConnEvent.CONNECTED | ConnEvent.WRITABLE;
  }

  private enterTimeWait(now: number): void {
    this.setState(TcpState.TIME_WAIT);
    // "Start the time-wait timer, turn off the other timers."
    this.numbers.fill(Infinity, 0, TIMER_COUNT);
    this.rtoAt = this.reoAt = this.ptoAt = Infinity;
    this.deadlines[Timer.TIME_WAIT] = now + 2 * this.config.msl;
    this.events |= ConnEvent.CLOSED;
  }

  private enterClosed(): void {
    if (this.isClosed) return;
    const wasTimeWait = this.state === TcpState.TIME_WAIT;
    this.setState(TcpState.CLOSED);
    this.numbers.fill(Infinity, 0, TIMER_COUNT);
    this.rtoAt = this.reoAt = this.ptoAt = Infinity;
    this.synPending = false;
    this.ackNow = false;
    this.dupAcksOwed = 0;
    if (!wasTimeWait) this.events |= ConnEvent.CLOSED;
  }

  private fail(code: ConnErrorCode): void {
    if (this.errorCode === null) {
      this.errorCode = code;
      this.events |= ConnEvent.ERROR;
    }
    this.enterClosed();
  }

  private timeout(): void {
    this.fail('ETIMEDOUT');
  }

  private stopTimer(t: Timer): void {
    this.deadlines[t] = Infinity;
  }

  /** Start (or with Infinity stop) the RTO of the loss-detection timer. */
  private setRto(at: number): void {
    this.rtoAt = at;
    this.syncLossTimer();
  }

  /** The loss-detection timer's deadline: the earliest of RTO, reordering timer and PTO. */
  private syncLossTimer(): void {
    this.deadlines[Timer.RETRANSMIT] = Math.min(this.rtoAt, this.reoAt, this.ptoAt);
  }

  /** Which of the three the loss-detection timer is armed for, for tracing and tests. */
  get lossTimerKind(): 'rto' | 'rack-reorder' | 'tlp' | null {
    const t = this.deadlines[Timer.RETRANSMIT]!;
    if (t === Infinity) return null;
    if (t === this.reoAt) return 'rack-reorder';
    if (t === this.ptoAt) return 'tlp';
    return 'rto';
  }

  private queueRst(seq: number, ack: number, flags: number): void {
    this.rstPending = true;
    this.rstSeq = seq >>> 0;
    this.rstAck = ack >>> 0;
    this.rstFlags = flags;
  }
}

function assertNever(x: never): never {
  throw new Error(`unreachable: ${String(x)}`);
}

// The compact fields of Connection (packed-fields.ts), in storage order.
defineFlagFields(Connection.prototype, [
  'passive',
  'noDelay',
  'keepAlive',
  'orphan',
  'finReceived',
  'queued',
  'scalingAgreed',
  'tsOk',
  'sackOk',
  'finQueued',
  'finSent',
  'probePending',
  'keepalivePending',
  'synPending',
  'ackNow',
  'tlpPending',
  'rtxForce',
  'staleEcho',
  'rttTiming',
  'synTimedOut',
  'inRecovery',
  'rstPending'
]);
/** The number store's initial values: each timer's deadline (indexed by Timer), then the number fields. */
const CONNECTION_NUMBERS: readonly number[] = [
  ...new Array<number>(TIMER_COUNT).fill(Infinity),
  ...defineNumberFields(
    Connection.prototype,
    {
      iss: 0,
      sndUna: 0,
      sndNxt: 0,
      sndWl1: 0,
      sndWl2: 0,
      irs: 0,
      rcvNxt: 0,
      rcvAdvRight: 0,
      timerKey: Infinity,
      now: 0,
      tsRecent: 0,
      tsRecentAt: 0,
      lastAckSent: 0,
      highRxt: 0,
      finSeq: 0,
      lastRecv: 0,
      rtxNext: 0,
      rtxEnd: 0,
      rtoAt: Infinity,
      reoAt: Infinity,
      ptoAt: Infinity,
      rttSeq: 0,
      rttStart: 0,
      recover: 0,
      keepaliveSent: 0,
      rstSeq: 0,
      rstAck: 0,
    },
    TIMER_COUNT,
  ),
];
