/**
 * Ladder diagrams: a `TcpTracer` that turns the core's trace stream into, per connection,
 * a list of compact events (segments, state changes, timers), labels the textbook steps
 * (handshake 1/3..3/3, teardown 1/4..4/4 or the merged three-way 1/3..3/3, simultaneous
 * open and close), marks retransmissions, duplicate ACKs, zero windows and window
 * probes, and prints each event live as one line of a two-column sequence diagram
 * (`tuntcp up --trace`). The same records render to text (ladder-text.ts) and SVG
 * (svg.ts) for the status page.
 *
 * Which side is drawn where: the side that sent the first SYN (the client) on the left,
 * the other on the right, as in the RFC 9293 §3.5 figures. tuntcp is "local", the host
 * at the other end "remote".
 *
 * What is observed and what is inferred: segments, our state and our timers come from the
 * core and are exact. The peer's RFC 9293 state is INFERRED from the segments it sent and
 * the segments we sent it, assuming ours arrive (e.g. it sent a SYN: SYN-SENT; it received
 * our SYN,ACK: ESTABLISHED; it sent a FIN: FIN-WAIT-1; it received our ACK of that FIN:
 * FIN-WAIT-2). Where segments cross (simultaneous open or close, our data racing its
 * FIN), its ACK numbers show what of ours it had when it sent something, and the states
 * shown for our earlier segments are corrected in hindsight (live lines keep what was
 * known when they were printed). One case stays undecidable: a bare ACK of ours that
 * races the peer's FIN, which carries no sequence number to acknowledge. Retransmissions
 * by the peer are inferred too (a segment that repeats
 * sequence space it already sent), as are duplicate ACKs (RFC 5681 §2's definition),
 * keepalives (RFC 1122 §4.2.3.6: SEQ = SND.NXT−1) and window probes (RFC 9293 §3.8.6.1:
 * at most one byte while the other side offers a zero window).
 *
 * Cost: the core calls a tracer only when one is installed. This one allocates per event,
 * keeps a bounded history (the last `maxHistory` connections, each at most `maxEvents`
 * events: the first half and the most recent half), and forgets the rest.
 */
import type { Connection } from '../tcp/connection';
import type { Segment, SegmentOut } from '../tcp/segment';
import { seqAdd, seqGeq, seqGt, seqLt } from '../tcp/seq';
import { TcpState } from '../tcp/state';
import { TIMER_NAMES, TcpTracer } from '../tcp/tracer';
import { ipv4ToString } from '../wire/ipv4';
import { TcpFlag } from '../wire/tcp';
import { formatEventLine, formatLiveHeader, formatSummary } from './ladder-text';

const { FIN, SYN, RST, ACK } = TcpFlag;

/** tuntcp's end ("local") or the other host ("remote"). */
export type Side = 'local' | 'remote';

/** One segment, copied from the core's reused objects. */
export interface LadderSegment {
  kind: 'segment';
  /** The core's clock, ms. */
  t: number;
  /** Who sent it. */
  from: Side;
  flags: number;
  /** Absolute sequence and acknowledgment numbers. */
  seq: number;
  ack: number;
  /** Relative to the sender's ISN (seq) and the receiver's ISN (ack); null while that ISN is unknown. */
  relSeq: number | null;
  relAck: number | null;
  /** Payload bytes (SEG.LEN less SYN and FIN). */
  len: number;
  /** The window field as carried (unscaled). */
  window: number;
  /** The window in bytes: scaled when both SYNs offered window scaling (RFC 7323 §2.2). */
  windowBytes: number;
  /** MSS and window-scale options (SYN segments), or -1. */
  mss: number;
  wscale: number;
  /** A retransmission: from the core for our segments, inferred for the peer's. */
  retransmit: boolean;
  /** Our state after the segment (exact), or null when no connection existed. */
  localState: TcpState | null;
  /**
   * The peer's state after the segment (after sending its own, after receiving ours):
   * INFERRED, and corrected in hindsight when crossing segments come to light (file comment).
   */
  remoteState: TcpState | null;
  /** "handshake 1/3", "teardown 2/3: FIN+ACK merged", ...; null for plain segments. */
  label: string | null;
  /** "retransmission", "dup ACK #2", "zero window", "window probe", "window update", "keepalive". */
  marks: string[];
}

/** Our state changed. `absorbed`: caused by the segment just received, shown on its line. */
export interface LadderStateChange {
  kind: 'state';
  t: number;
  from: TcpState;
  to: TcpState;
  absorbed: boolean;
}

/** One of our connection timers fired (TIMER_NAMES). */
export interface LadderTimer {
  kind: 'timer';
  t: number;
  timer: string;
}

export type LadderEvent = LadderSegment | LadderStateChange | LadderTimer;

export type TeardownKind = 'four-way' | 'three-way' | 'simultaneous' | 'reset';

/** Everything a renderer needs about one connection. Plain data (JSON-serialisable). */
export interface ConnectionLadder {
  readonly id: number;
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** "10.77.0.2:80" */
  readonly local: string;
  readonly remote: string;
  /** The side drawn on the left: the client (first SYN), else the side that did not listen. */
  readonly left: Side;
  /** Who opened: the side that sent the first SYN, 'both' for a simultaneous open. */
  readonly openedBy: Side | 'both' | null;
  readonly localIsn: number | null;
  readonly remoteIsn: number | null;
  readonly localState: TcpState | null;
  /** Inferred. */
  readonly remoteState: TcpState | null;
  readonly teardown: TeardownKind | null;
  readonly startedAt: number;
  readonly lastAt: number;
  /** Our side reached CLOSED or TIME-WAIT. */
  readonly closed: boolean;
  /** Kept events, oldest first; `omitted` events were dropped after index `omittedAt`. */
  readonly events: readonly LadderEvent[];
  readonly omitted: number;
  readonly omittedAt: number;
  readonly segments: number;
  readonly retransmissions: number;
}

/** What we know of one side's sequence space, from the segments it sent. */
class SideTrack {
  isn: number | null = null;
  /** SYN (without ACK) sent; SYN,ACK sent. */
  sentSyn = false;
  sentSynAck = false;
  synEvent: LadderSegment | null = null;
  synAckEvent: LadderSegment | null = null;
  /** Window-scale option offered in its SYN, or -1. */
  wscale = -1;
  /** One past the highest sequence number it sent (SYN and FIN count). */
  maxEnd: number | null = null;
  lastAck: number | null = null;
  lastWinBytes: number | null = null;
  dupAcks = 0;
  /** The sequence number of its FIN, once sent; acknowledged by the other side yet? */
  finSeq: number | null = null;
  finAcked = false;
}

/** RFC 9293 §3.3.2 transitions a received segment can cause (the rest come from calls and timers). */
function inputTransition(from: TcpState, to: TcpState, seg: LadderSegment): boolean {
  switch (to) {
    case TcpState.SYN_RECEIVED:
      return from === TcpState.CLOSED || from === TcpState.LISTEN || from === TcpState.SYN_SENT;
    case TcpState.ESTABLISHED:
      return from === TcpState.SYN_SENT || from === TcpState.SYN_RECEIVED;
    case TcpState.CLOSE_WAIT:
      return from === TcpState.ESTABLISHED || from === TcpState.SYN_RECEIVED;
    case TcpState.FIN_WAIT_2:
    case TcpState.CLOSING:
      return from === TcpState.FIN_WAIT_1;
    case TcpState.TIME_WAIT:
      return from === TcpState.FIN_WAIT_1 || from === TcpState.FIN_WAIT_2 || from === TcpState.CLOSING;
    case TcpState.CLOSED:
      return from === TcpState.LAST_ACK || (seg.flags & RST) !== 0;
    default:
      return false;
  }
}

/**
 * A segment only a synchronized TCP sends: data (RFC 9293 §3.10.2 queues SENDs until
 * ESTABLISHED) or, almost always, a FIN (closing from SYN-RECEIVED is rare).
 */
function provesEstablished(ev: LadderSegment): boolean {
  return (ev.flags & (SYN | ACK)) === ACK && (ev.len > 0 || (ev.flags & FIN) !== 0);
}

/** One connection's record: the public ConnectionLadder plus the inference state. */
export class LadderRecord implements ConnectionLadder {
  localAddr: number;
  left: Side;
  openedBy: Side | 'both' | null = null;
  localState: TcpState | null = null;
  remoteState: TcpState | null = null;
  teardown: TeardownKind | null = null;
  lastAt: number;
  closed = false;
  readonly events: LadderEvent[] = [];
  omitted = 0;
  omittedAt = 0;
  segments = 0;
  retransmissions = 0;
  /** Tracer bookkeeping. */
  conn: Connection | null = null;
  readonly sides: Record<Side, SideTrack> = { local: new SideTrack(), remote: new SideTrack() };
  handshakeDone = false;
  simultaneousOpen = false;
  firstFin: LadderSegment | null = null;
  teardownStep = 0;
  /** The peer's state as far as its own segments confirm it, and our segments it has not confirmed yet. */
  remoteConfirmed: TcpState | null = null;
  /** The connection's smoothed RTT (ms) once measured: dates our bare ACKs' arrival. */
  srtt: number | null = null;
  readonly pendingOut: { ev: LadderSegment; changed: boolean }[] = [];
  /** The last received segment, while our state changes can still be attributed to it. */
  lastInbound: LadderSegment | null = null;
  headerPrinted = false;
  summaryPrinted = false;

  constructor(
    readonly id: number,
    localAddr: number,
    readonly localPort: number,
    readonly remoteAddr: number,
    readonly remotePort: number,
    readonly startedAt: number,
    left: Side,
    private readonly maxEvents: number,
  ) {
    this.localAddr = localAddr;
    this.left = left;
    this.lastAt = startedAt;
  }

  get local(): string {
    return `${this.localAddr === 0 ? 'local' : ipv4ToString(this.localAddr)}:${this.localPort}`;
  }

  get remote(): string {
    return `${ipv4ToString(this.remoteAddr)}:${this.remotePort}`;
  }

  get localIsn(): number | null {
    return this.sides.local.isn;
  }

  get remoteIsn(): number | null {
    return this.sides.remote.isn;
  }

  /** Dropped from the tracer's history: still traced live, its events no longer kept. */
  evicted = false;

  push(ev: LadderEvent): void {
    this.lastAt = ev.t;
    if (this.evicted) {
      this.omitted++;
      return;
    }
    const max = this.maxEvents;
    if (this.events.length < max) {
      this.events.push(ev);
      return;
    }
    // Keep the first half (the handshake) and the most recent half (the teardown).
    const head = max >> 1;
    this.omittedAt = head;
    this.events.splice(head, 1);
    this.events.push(ev);
    this.omitted++;
  }

  /** A JSON-friendly snapshot (getters included). */
  toJSON(): ConnectionLadder {
    return {
      id: this.id,
      localAddr: this.localAddr,
      localPort: this.localPort,
      remoteAddr: this.remoteAddr,
      remotePort: this.remotePort,
      local: this.local,
      remote: this.remote,
      left: this.left,
      openedBy: this.openedBy,
      localIsn: this.localIsn,
      remoteIsn: this.remoteIsn,
      localState: this.localState,
      remoteState: this.remoteState,
      teardown: this.teardown,
      startedAt: this.startedAt,
      lastAt: this.lastAt,
      closed: this.closed,
      events: this.events,
      omitted: this.omitted,
      omittedAt: this.omittedAt,
      segments: this.segments,
      retransmissions: this.retransmissions,
    };
  }
}

export interface LadderTracerOptions {
  /**
   * Live mode: called with each diagram line as it happens (`--trace` prints them). A
   * received segment's line waits until the segment has been processed (so it can show
   * our state after it): it is written before the next event, or by `flush()`, which a
   * microtask runs after each batch.
   */
  onLine?: (line: string) => void;
  /** ANSI colours in live lines. */
  color?: boolean;
  /** The stack's own address, for segments that reach no connection (RSTs to closed ports). */
  localAddr?: number;
  /** Connections kept for the status page (default 32). */
  maxHistory?: number;
  /** Events kept per connection (default 2000: the first and the last 1000). */
  maxEvents?: number;
  /** Flush deferred live lines on a microtask (default true); tests call `flush()`. */
  autoFlush?: boolean;
  /** Width of the arrow column in characters (default 52). */
  arrowWidth?: number;
}

/** Our segments kept for hindsight on the peer's state (see inferRemote). */
const MAX_PENDING = 256;

const tupleKey = (remoteAddr: number, remotePort: number, localPort: number): number => remoteAddr * 0x1_0000_0000 + remotePort * 0x10000 + localPort;

export class LadderTracer implements TcpTracer {
  private readonly byConn = new WeakMap<Connection, LadderRecord>();
  /** The latest record per 4-tuple (for segments with no connection: SYNs to a listener, TIME-WAIT). */
  private readonly byTuple = new Map<number, LadderRecord>();
  /** Recent connections, oldest first, at most maxHistory. */
  private readonly history: LadderRecord[] = [];
  private readonly pending: { rec: LadderRecord; ev: LadderSegment }[] = [];
  private flushQueued = false;
  private nextId = 1;
  private readonly maxHistory: number;
  private readonly maxEvents: number;
  private readonly onLine: ((line: string) => void) | null;
  private readonly autoFlush: boolean;
  readonly color: boolean;
  readonly arrowWidth: number;
  localAddr: number;

  constructor(opts: LadderTracerOptions = {}) {
    this.onLine = opts.onLine ?? null;
    this.color = opts.color ?? false;
    this.localAddr = opts.localAddr ?? 0;
    this.maxHistory = Math.max(1, opts.maxHistory ?? 32);
    this.maxEvents = Math.max(4, opts.maxEvents ?? 2000);
    this.autoFlush = opts.autoFlush ?? true;
    this.arrowWidth = opts.arrowWidth ?? 52;
  }

  /** Recent connections, oldest first (live ones included). */
  recent(): readonly ConnectionLadder[] {
    return this.history.slice();
  }

  /** The record of a live connection, if it is still in the history. */
  forConnection(conn: Connection): ConnectionLadder | null {
    return this.byConn.get(conn) ?? null;
  }

  byId(id: number): ConnectionLadder | null {
    return this.history.find((r) => r.id === id) ?? null;
  }

  // ---------------------------------------------------------------------------------
  // TcpTracer

  segmentIn(conn: Connection | null, remoteAddr: number, remotePort: number, localPort: number, seg: Segment, now: number): void {
    this.flushPending();
    const rec = this.recordFor(conn, remoteAddr, remotePort, localPort, now, seg.flags, 'remote');
    const ev = this.segmentEvent(rec, 'remote', now, seg.flags, seg.seq, seg.ack, seg.payloadLen, seg.window, seg.options.mss, seg.options.windowScale, false, conn);
    rec.lastInbound = ev;
    if (this.onLine !== null) {
      // Printed once processed, with our state after it.
      this.pending.push({ rec, ev });
      this.queueFlush();
    }
  }

  segmentOut(conn: Connection | null, remoteAddr: number, remotePort: number, localPort: number, out: SegmentOut, now: number): void {
    const rec = this.recordFor(conn, remoteAddr, remotePort, localPort, now, out.flags, 'local');
    if (conn === null && rec.localState === null && out.flags & RST) {
      // A reset for a segment that reached no socket: we were CLOSED to it (RFC 9293 §3.10.7.1).
      rec.localState = TcpState.CLOSED;
      if (rec.lastInbound !== null) rec.lastInbound.localState = TcpState.CLOSED;
    }
    this.flushPending();
    rec.lastInbound = null;
    const ev = this.segmentEvent(rec, 'local', now, out.flags, out.seq, out.ack, out.dataLen, out.window, out.mss, out.windowScale, out.retransmit, conn);
    if (conn === null && out.flags & RST) this.finish(rec);
    this.emitLine(rec, ev);
  }

  stateChange(conn: Connection, from: TcpState, to: TcpState, now: number): void {
    const rec = this.recordFor(conn, conn.remoteAddr, conn.remotePort, conn.localPort, now, 0, null);
    const inbound = rec.lastInbound;
    const absorbed = inbound !== null && inputTransition(from, to, inbound);
    const ev: LadderStateChange = { kind: 'state', t: now, from, to, absorbed };
    rec.push(ev);
    rec.localState = to;
    if (absorbed) {
      inbound.localState = to;
    } else {
      rec.lastInbound = null;
      this.flushPending();
      this.emitLine(rec, ev);
    }
    if (to === TcpState.CLOSED || to === TcpState.TIME_WAIT) this.finish(rec);
  }

  timerFired(conn: Connection, timer: number, now: number): void {
    this.flushPending();
    const rec = this.recordFor(conn, conn.remoteAddr, conn.remotePort, conn.localPort, now, 0, null);
    rec.lastInbound = null;
    const ev: LadderTimer = { kind: 'timer', t: now, timer: TIMER_NAMES[timer] ?? `timer ${timer}` };
    rec.push(ev);
    this.emitLine(rec, ev);
  }

  /** Write deferred live lines (received segments) and end-of-connection summaries now. */
  flush(): void {
    this.flushPending();
    if (this.onLine === null) return;
    for (const rec of this.history) {
      if (rec.closed && !rec.summaryPrinted && rec.headerPrinted) {
        rec.summaryPrinted = true;
        this.onLine(formatSummary(rec, this.color));
      }
    }
  }

  // ---------------------------------------------------------------------------------
  // Records

  private recordFor(conn: Connection | null, remoteAddr: number, remotePort: number, localPort: number, now: number, flags: number, sender: Side | null): LadderRecord {
    if (conn !== null) {
      const known = this.byConn.get(conn);
      if (known !== undefined) return known;
    }
    const key = tupleKey(remoteAddr, remotePort, localPort);
    const latest = this.byTuple.get(key);
    const pureSyn = (flags & (SYN | ACK | RST)) === SYN;
    if (conn === null) {
      // A SYN after the old connection closed starts a new record (a reopen from TIME-WAIT).
      if (latest !== undefined && !(pureSyn && latest.closed && sender === 'remote')) return latest;
    } else if (latest !== undefined && latest.conn === null && !latest.closed) {
      // The connection a pending SYN created: adopt the record.
      this.adopt(latest, conn);
      return latest;
    }
    // Left: the client. A first SYN from us, or a connection we opened: us.
    let left: Side = 'remote';
    if (conn !== null ? !conn.passive : sender === 'local' && pureSyn) left = 'local';
    const rec = new LadderRecord(this.nextId++, conn?.localAddr ?? this.localAddr, localPort, remoteAddr, remotePort, now, left, this.maxEvents);
    if (conn !== null) this.adopt(rec, conn);
    this.byTuple.set(key, rec);
    this.history.push(rec);
    if (this.history.length > this.maxHistory) {
      const old = this.history.shift()!;
      const k = tupleKey(old.remoteAddr, old.remotePort, old.localPort);
      if (this.byTuple.get(k) === old) this.byTuple.delete(k);
      // A connection still alive keeps being traced (live lines, labels) without its events.
      old.evicted = true;
      old.events.length = 0;
    }
    return rec;
  }

  private adopt(rec: LadderRecord, conn: Connection): void {
    rec.conn = conn;
    rec.localAddr = conn.localAddr;
    this.byConn.set(conn, rec);
    const local = rec.sides.local;
    const remote = rec.sides.remote;
    local.isn = conn.iss;
    if (rec.localState === null) rec.localState = conn.state;
    const s = conn.state;
    const synchronized = s !== TcpState.CLOSED && s !== TcpState.LISTEN && s !== TcpState.SYN_SENT;
    if (synchronized && remote.isn === null) {
      // Traced from the middle of the connection: take what the connection knows.
      remote.isn = conn.irs;
      if (conn.scalingAgreed) {
        local.wscale = conn.rcvShift;
        remote.wscale = conn.sndShift;
      }
      if (s !== TcpState.SYN_RECEIVED) {
        rec.handshakeDone = true;
        if (rec.remoteState === null) rec.remoteState = rec.remoteConfirmed = TcpState.ESTABLISHED;
      }
    }
  }

  private finish(rec: LadderRecord): void {
    if (rec.closed) return;
    rec.closed = true;
    if (this.onLine !== null) this.queueFlush();
  }

  // ---------------------------------------------------------------------------------
  // Segments: copy, label, mark, infer the peer's state

  private segmentEvent(
    rec: LadderRecord,
    from: Side,
    t: number,
    flags: number,
    seq: number,
    ack: number,
    len: number,
    window: number,
    mss: number,
    wscale: number,
    retransmitFromCore: boolean,
    conn: Connection | null,
  ): LadderSegment {
    if (conn !== null && conn.rtt.hasSample) rec.srtt = conn.rtt.srtt;
    const to: Side = from === 'local' ? 'remote' : 'local';
    const x = rec.sides[from];
    const y = rec.sides[to];
    const syn = (flags & SYN) !== 0;
    const fin = (flags & FIN) !== 0;
    const rst = (flags & RST) !== 0;
    const hasAck = (flags & ACK) !== 0;
    const segLen = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    const marks: string[] = [];

    if (syn) {
      x.isn = seq;
      x.wscale = wscale;
    }
    // RFC 7323 §2.2: the window of a SYN is never scaled; others are once both SYNs offered it.
    const scaled = !syn && x.wscale >= 0 && y.wscale >= 0;
    const windowBytes = scaled ? window * 2 ** Math.min(x.wscale, 14) : window;

    // Retransmission, keepalive, window probe (before maxEnd moves).
    let retransmit = retransmitFromCore;
    const probeContext = y.lastWinBytes === 0 && !syn && !fin && !rst && len <= 1;
    if (probeContext && (len === 1 || (x.maxEnd !== null && seq === seqAdd(x.maxEnd, -1)))) {
      marks.push('window probe');
    } else if (!syn && !fin && !rst && len <= 1 && x.maxEnd !== null && seq === seqAdd(x.maxEnd, -1)) {
      marks.push('keepalive');
    } else {
      // (A first SYN,ACK after a SYN of the same side is the simultaneous-open answer, not a repeat.)
      const simOpenSynAck = syn && hasAck && x.sentSyn && !x.sentSynAck;
      if (from === 'remote' && segLen > 0 && x.maxEnd !== null && seqLt(seq, x.maxEnd) && !simOpenSynAck) retransmit = true;
      if (retransmit) marks.push('retransmission');
      else if (from === 'remote' && segLen > 0 && x.maxEnd !== null && seqGt(seq, x.maxEnd) && !syn) marks.push('out of order (gap before it)');
    }
    if (retransmit) rec.retransmissions++;
    if (segLen > 0 && (x.maxEnd === null || seqGt(seqAdd(seq, segLen), x.maxEnd))) x.maxEnd = seqAdd(seq, segLen);

    // Duplicate ACKs (RFC 5681 §2): no data, no SYN/FIN, same ACK and window, data outstanding.
    if (hasAck && !rst) {
      const pureAck = segLen === 0;
      if (pureAck && x.lastAck === ack && x.lastWinBytes === windowBytes && windowBytes > 0 && y.maxEnd !== null && seqGt(y.maxEnd, ack) && marks.length === 0) {
        x.dupAcks++;
        marks.push(`dup ACK #${x.dupAcks}`);
      } else if (x.lastAck !== ack) {
        x.dupAcks = 0;
      }
      if (pureAck && x.lastWinBytes === 0 && windowBytes > 0) marks.push('window update');
      x.lastAck = ack;
    }
    if (!rst) {
      if (windowBytes === 0) marks.push('zero window');
      x.lastWinBytes = windowBytes;
    }

    const ev: LadderSegment = {
      kind: 'segment',
      t,
      from,
      flags,
      seq,
      ack,
      relSeq: x.isn === null ? null : (seq - x.isn) >>> 0,
      relAck: !hasAck || y.isn === null ? null : (ack - y.isn) >>> 0,
      len,
      window,
      windowBytes,
      mss,
      wscale,
      retransmit,
      localState: from === 'local' && conn !== null ? conn.state : rec.localState,
      remoteState: null,
      label: null,
      marks,
    };
    this.label(rec, ev, x, y);
    this.inferRemote(rec, ev);
    rec.segments++;
    rec.push(ev);
    return ev;
  }

  /** The textbook steps: handshake, teardown, simultaneous open and close, reset. */
  private label(rec: LadderRecord, ev: LadderSegment, x: SideTrack, y: SideTrack): void {
    const syn = (ev.flags & SYN) !== 0;
    const fin = (ev.flags & FIN) !== 0;
    const hasAck = (ev.flags & ACK) !== 0;
    if (ev.flags & RST) {
      const refused = y.sentSyn && !x.sentSynAck && !rec.handshakeDone;
      ev.label = refused ? 'reset: connection refused' : 'reset';
      if (rec.teardown === null) rec.teardown = 'reset';
      return;
    }
    // Opening (RFC 9293 §3.5, figures 6 and 7).
    if (syn && !hasAck) {
      if (y.sentSyn && !y.sentSynAck && !x.sentSyn) {
        // Both SYNs cross: simultaneous open (RFC 9293 §3.5 figure 7).
        rec.simultaneousOpen = true;
        rec.openedBy = 'both';
        if (y.synEvent !== null) y.synEvent.label = 'simultaneous open 1/4';
        ev.label = 'simultaneous open 2/4';
      } else if (rec.simultaneousOpen) {
        ev.label = x.synEvent?.label ?? 'simultaneous open';
      } else {
        ev.label = 'handshake 1/3';
        if (rec.openedBy === null) rec.openedBy = ev.from;
      }
      if (!x.sentSyn) x.synEvent = ev;
      x.sentSyn = true;
      return;
    }
    if (syn && hasAck) {
      if (rec.simultaneousOpen) {
        // A repeated SYN,ACK keeps its first label (and is marked a retransmission).
        ev.label = x.synAckEvent?.label ?? (y.sentSynAck ? 'simultaneous open 4/4' : 'simultaneous open 3/4');
        if (y.sentSynAck) rec.handshakeDone = true;
      } else {
        ev.label = 'handshake 2/3';
        if (rec.openedBy === null) rec.openedBy = ev.from === 'local' ? 'remote' : 'local';
      }
      if (!x.sentSynAck) x.synAckEvent = ev;
      x.sentSynAck = true;
      return;
    }
    if (!rec.handshakeDone && !rec.simultaneousOpen && hasAck && y.sentSynAck && y.isn !== null && seqGeq(ev.ack, seqAdd(y.isn, 1))) {
      ev.label = 'handshake 3/3';
      rec.handshakeDone = true;
      // The third segment may carry data or even a FIN; fall through to the teardown.
    }

    // Closing (RFC 9293 §3.6, figures 12 and 13). The ACK field first, then the FIN bit.
    let acksFin = false;
    if (hasAck && y.finSeq !== null && !y.finAcked && seqGeq(ev.ack, seqAdd(y.finSeq, 1))) {
      y.finAcked = true;
      acksFin = true;
    }
    let newFin = false;
    if (fin && x.finSeq === null) {
      x.finSeq = seqAdd(ev.seq, ev.len);
      newFin = true;
    }
    const first = rec.firstFin;
    if (newFin && y.finSeq === null) {
      // The first FIN: which teardown this is shows only with the other side's answer.
      rec.firstFin = ev;
      ev.label = 'teardown 1';
    } else if (newFin) {
      if (acksFin) {
        rec.teardown = 'three-way';
        if (first !== null) first.label = 'teardown 1/3';
        ev.label = 'teardown 2/3: FIN+ACK merged';
      } else if (y.finAcked) {
        rec.teardown = 'four-way';
        ev.label = 'teardown 3/4';
      } else {
        rec.teardown = 'simultaneous';
        if (first !== null) first.label = 'simultaneous close 1/4';
        ev.label = 'simultaneous close 2/4';
        rec.teardownStep = 2;
      }
    } else if (acksFin) {
      if (x.finSeq === null) {
        rec.teardown = 'four-way';
        if (first !== null) first.label = 'teardown 1/4';
        ev.label = 'teardown 2/4';
      } else if (rec.teardown === 'three-way') {
        ev.label = 'teardown 3/3';
      } else if (rec.teardown === 'four-way') {
        ev.label = 'teardown 4/4';
      } else if (rec.teardown === 'simultaneous') {
        rec.teardownStep++;
        ev.label = `simultaneous close ${rec.teardownStep}/4`;
      }
    }
  }

  /**
   * The peer's state after this segment, by RFC 9293's state diagram (§3.3.2, figure 5):
   * after SENDING it for the peer's segments, after RECEIVING it for ours.
   *
   * Crossing segments (simultaneous open and close, an ACK racing a FIN) make the order in
   * which the peer saw things differ from ours. The peer's ACK field tells what of ours it
   * had received when it sent a segment, so: our state-changing segments wait in
   * `pendingOut` until acknowledged; a segment from the peer first applies the ones it
   * acknowledges, then its own transition; the ones still in flight are applied after it,
   * and their events' `remoteState` is corrected in hindsight.
   */
  private inferRemote(rec: LadderRecord, ev: LadderSegment): void {
    const pending = rec.pendingOut;
    if (ev.flags & RST) {
      rec.remoteConfirmed = rec.remoteState = ev.remoteState = TcpState.CLOSED;
      pending.length = 0;
      return;
    }
    if (ev.from === 'local') {
      const before = rec.remoteState;
      ev.remoteState = rec.remoteState = this.peerReceives(rec, before, ev);
      pending.push({ ev, changed: ev.remoteState !== before });
      // Bounded: the oldest is taken as received.
      if (pending.length > MAX_PENDING) rec.remoteConfirmed = this.peerReceives(rec, rec.remoteConfirmed, pending.shift()!.ev);
      return;
    }
    let n = 0;
    for (let i = 0; i < pending.length; i++) {
      const { ev: p, changed } = pending[i]!;
      const space = p.len + (p.flags & SYN ? 1 : 0) + (p.flags & FIN ? 1 : 0);
      // It had our segment when it sent this one if it acknowledges it, or something we
      // sent after it. A bare ACK (no sequence space) cannot be acknowledged: one that moves
      // the peer's state counts as arrived once it left over an RTT ago; any other is taken
      // to have arrived (it only matters when it races the peer's FIN).
      if (ev.flags & ACK && seqGeq(ev.ack, seqAdd(p.seq, Math.max(1, space)))) n = i + 1;
      else if (space === 0 && (!changed || (rec.srtt !== null && p.t + rec.srtt < ev.t))) n = i + 1;
    }
    // Data or a FIN from SYN-RECEIVED shows that our ACK of its SYN got there.
    const remoteIsn = rec.sides.remote.isn;
    if (rec.remoteConfirmed === TcpState.SYN_RECEIVED && provesEstablished(ev) && remoteIsn !== null) {
      const i = pending.findIndex(({ ev: p }) => !(p.flags & SYN) && p.flags & ACK && seqGeq(p.ack, seqAdd(remoteIsn, 1)));
      if (i >= n) n = i + 1;
    }
    for (let i = 0; i < n; i++) rec.remoteConfirmed = this.peerReceives(rec, rec.remoteConfirmed, pending[i]!.ev);
    pending.splice(0, n);
    rec.remoteConfirmed = this.peerSends(rec.remoteConfirmed, ev);
    ev.remoteState = rec.remoteConfirmed;
    let s = rec.remoteConfirmed;
    for (const { ev: p } of pending) {
      s = this.peerReceives(rec, s, p);
      p.remoteState = s;
    }
    rec.remoteState = s;
  }

  /** The peer's state after it sent `ev` (RFC 9293 §3.3.2: what a TCP in state `s` may send). */
  private peerSends(s: TcpState | null, ev: LadderSegment): TcpState | null {
    const S = TcpState;
    const syn = (ev.flags & SYN) !== 0;
    const hasAck = (ev.flags & ACK) !== 0;
    if (syn && !hasAck) return S.SYN_SENT;
    if (syn) return s === null || s === S.CLOSED || s === S.LISTEN || s === S.SYN_SENT ? S.SYN_RECEIVED : s;
    // With no history at all, the tracer started mid-connection. From SYN-RECEIVED, data or
    // a FIN means our ACK arrived (a bare ACK may answer an unacceptable segment, §3.10.7.4).
    if (s === null || s === S.CLOSED || s === S.LISTEN || (s === S.SYN_RECEIVED && provesEstablished(ev))) s = S.ESTABLISHED;
    if (ev.flags & FIN) {
      if (s === S.ESTABLISHED || s === S.SYN_RECEIVED) s = S.FIN_WAIT_1;
      else if (s === S.CLOSE_WAIT) s = S.LAST_ACK;
    }
    return s;
  }

  /** The peer's state after it received our `ev` (RFC 9293 §3.10.7: ACK field first, then FIN). */
  private peerReceives(rec: LadderRecord, s: TcpState | null, ev: LadderSegment): TcpState | null {
    const S = TcpState;
    const syn = (ev.flags & SYN) !== 0;
    const hasAck = (ev.flags & ACK) !== 0;
    const remote = rec.sides.remote;
    if (ev.flags & RST) return S.CLOSED;
    if (syn && !hasAck) {
      // A first SYN finds the peer listening (or it answers with a reset, which shows).
      if (s === null || s === S.LISTEN || s === S.CLOSED || s === S.SYN_SENT) s = S.SYN_RECEIVED;
    }
    // Our SYN,ACK completes its active open; our ACK completes its passive (or simultaneous)
    // one. A SYN,ACK reaching SYN-RECEIVED (simultaneous open) repeats the sequence number
    // it already has: unacceptable, answered with an ACK, no state change (RFC 9293 §3.10.7.4 first check).
    const acksItsSyn = hasAck && remote.isn !== null && seqGeq(ev.ack, seqAdd(remote.isn, 1));
    if (acksItsSyn && (syn ? s === S.SYN_SENT : s === S.SYN_RECEIVED)) s = S.ESTABLISHED;
    if (hasAck && remote.finSeq !== null && seqGeq(ev.ack, seqAdd(remote.finSeq, 1))) {
      if (s === S.FIN_WAIT_1) s = S.FIN_WAIT_2;
      else if (s === S.CLOSING) s = S.TIME_WAIT;
      else if (s === S.LAST_ACK) s = S.CLOSED;
    }
    if (ev.flags & FIN) {
      if (s === S.ESTABLISHED || s === S.SYN_RECEIVED) s = S.CLOSE_WAIT;
      else if (s === S.FIN_WAIT_1) s = S.CLOSING;
      else if (s === S.FIN_WAIT_2) s = S.TIME_WAIT;
    }
    return s;
  }

  // ---------------------------------------------------------------------------------
  // Live output

  private emitLine(rec: LadderRecord, ev: LadderEvent): void {
    if (this.onLine === null) return;
    if (!rec.headerPrinted) {
      rec.headerPrinted = true;
      for (const line of formatLiveHeader(rec, { color: this.color, arrowWidth: this.arrowWidth })) this.onLine(line);
    }
    this.onLine(formatEventLine(rec, ev, { color: this.color, arrowWidth: this.arrowWidth, prefix: `#${rec.id} ` }));
  }

  private flushPending(): void {
    if (this.pending.length === 0) return;
    const items = this.pending.splice(0);
    for (const { rec, ev } of items) this.emitLine(rec, ev);
  }

  private queueFlush(): void {
    if (!this.autoFlush || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }
}
