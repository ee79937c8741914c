/**
 * The TCP layer: validates inbound segments, demultiplexes them to connections
 * (4-tuple → connection in O(1)), listeners and TIME-WAIT records, answers segments for
 * no socket with RST, turns what connections want to send into packets, and runs their
 * timers from one hierarchical timer wheel. It is the driver of the sans-I/O connections:
 * it owns the only `now` they see, and delivers their events to owners after each state
 * update.
 */
import { Counters, DropReason } from '../counters';
import { IpLayer } from '../ip/ip-layer';
import { Transport } from '../stack';
import { IPV4_MAX_HEADER_LEN, IpProtocol } from '../wire/ipv4';
import { TCP_MAX_HEADER_LEN, TCP_MIN_HEADER_LEN, TcpFlag, TcpView, finishTcpChecksum, writeTcpHeader, writeTcpPartialChecksum } from '../wire/tcp';
import { RxFlag } from '../link/link';
import { parseTcpOptions, tcpOptionsLength, writeTcpOptions } from '../wire/tcp-options';
import { TcpConfig, defaultTcpConfig } from './config';
import { CongestionControlFactory, newReno } from './congestion';
import { ConnEvent, Connection } from './connection';
import { IsnGenerator } from './isn';
import { Listener, ListenerOwner } from './listener';
import { Segment, SegmentOut } from './segment';
import { seqAdd, seqGt } from './seq';
import { TcpState } from './state';
import { TimerWheel } from './timer-wheel';
import { TimeWaitAction, TimeWaitRecord, timeWaitInput } from './time-wait';
import type { TcpTracer } from './tracer';

/** Whoever holds a connection (a Socket): told when it has events to poll. */
export interface ConnectionOwner {
  onConnectionEvents(conn: Connection): void;
}

/** Linux's default net.ipv4.ip_local_port_range. */
export const EPHEMERAL_LOW = 32768;
export const EPHEMERAL_HIGH = 60999;

export interface TcpLayerOptions {
  config?: Partial<TcpConfig>;
  isn: IsnGenerator;
  congestionControl?: CongestionControlFactory;
  /** Uniform in [0, 1): picks ephemeral ports. Injected so tests are reproducible. */
  random?: () => number;
}

/** Counter for each reason a connection drops a segment. */
const DROP_REASON = {
  not_acceptable: DropReason.TCP_NOT_ACCEPTABLE,
  bad_ack: DropReason.TCP_BAD_ACK,
  paws: DropReason.TCP_PAWS,
} as const;

/** Demux key: the local address is the stack's one address, so the rest fits in 48 bits. */
function demuxKey(remoteAddr: number, remotePort: number, localPort: number): number {
  return remoteAddr * 0x10000 + (remotePort ^ localPort);
}

export class TcpLayer implements Transport {
  readonly config: TcpConfig;
  private readonly table = new Map<number, Connection>();
  private readonly timeWait = new Map<number, TimeWaitRecord>();
  /** TIME-WAIT records in order of creation; all last 2×MSL, so the front expires first. */
  private readonly timeWaitQueue: TimeWaitRecord[] = [];
  private timeWaitHead = 0;
  private readonly listeners = new Map<number, Listener>();
  private readonly timers = new TimerWheel<Connection>();
  private readonly dirty: Connection[] = [];
  private readonly view = new TcpView();
  private readonly seg = new Segment();
  private readonly out = new SegmentOut();
  private readonly isn: IsnGenerator;
  private readonly cc: CongestionControlFactory;
  private readonly random: () => number;
  private connectionCount = 0;
  /** The time of the call being handled (for trace events from helpers without `now`). */
  private lastNow = 0;
  /** Called once per turn when any connection changed, for observers (the status page). */
  onChange: (() => void) | null = null;
  private tracerHook: TcpTracer | null = null;
  /** The link finishes our checksums and segments TSO packets (Link.tcpOffload). */
  private readonly offload: boolean;

  constructor(private readonly ip: IpLayer, private readonly counters: Counters, opts: TcpLayerOptions) {
    this.config = { ...defaultTcpConfig(ip.output.mtu), ...opts.config };
    this.isn = opts.isn;
    this.cc = opts.congestionControl ?? newReno;
    this.random = opts.random ?? Math.random;
    // TSO (Link.tcpOffload): up to the largest datagram less the largest IP and TCP headers.
    if (ip.output.tcpOffload && opts.config?.tsoMax === undefined) this.config.tsoMax = ip.output.maxPacket - IPV4_MAX_HEADER_LEN - TCP_MAX_HEADER_LEN;
    this.offload = ip.output.tcpOffload;
    ip.register(IpProtocol.TCP, (src, dst, buf, off, len, now, rxFlags) => this.input(src, dst, buf, off, len, now, rxFlags));
  }

  /** The trace hook for this layer and every connection in it (null: off). */
  get tracer(): TcpTracer | null {
    return this.tracerHook;
  }

  set tracer(t: TcpTracer | null) {
    this.tracerHook = t;
    for (const c of this.connections()) c.tracer = t;
  }

  get address(): number {
    return this.ip.address;
  }

  /** Live connections (not TIME-WAIT records). */
  get size(): number {
    return this.connectionCount;
  }

  get timeWaitCount(): number {
    return this.timeWait.size;
  }

  *connections(): IterableIterator<Connection> {
    for (const head of this.table.values()) {
      for (let c: Connection | null = head; c !== null; c = c.demuxNext) yield c;
    }
  }

  // ---------------------------------------------------------------------------------
  // User calls

  /** Passive OPEN on `port` (RFC 9293 §3.10.1). */
  listen(port: number, owner: ListenerOwner, backlog?: number): Listener {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1-65535, got ${port}`);
    if (this.listeners.has(port)) {
      throw Object.assign(new Error(`listen EADDRINUSE: port ${port} is already in use`), { code: 'EADDRINUSE', port });
    }
    const l = new Listener(port, owner, backlog ?? 511);
    this.listeners.set(port, l);
    return l;
  }

  /** Stop listening; established connections carry on, embryonic ones are reset. */
  unlisten(listener: Listener, now: number): void {
    if (this.listeners.get(listener.port) !== listener) return;
    this.listeners.delete(listener.port);
    listener.closed = true;
    for (const c of this.connections()) {
      if (c.owner === listener) {
        c.abort(now);
        this.touch(c);
      }
    }
    for (const c of listener.acceptQueue.splice(0)) {
      c.abort(now);
      this.touch(c);
    }
  }

  /** Active OPEN (RFC 9293 §3.10.1) from an ephemeral port. */
  connect(remoteAddr: number, remotePort: number, owner: ConnectionOwner, now: number, localPort?: number): Connection {
    if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) throw new RangeError(`port must be 1-65535, got ${remotePort}`);
    const port = localPort ?? this.ephemeralPort(remoteAddr, remotePort);
    const iss = this.isn.isn(now * 1000, this.ip.address, port, remoteAddr, remotePort);
    const c = new Connection(this.config, this.ip.address, port, remoteAddr, remotePort, iss, this.cc);
    c.owner = owner;
    this.insert(c);
    c.connect(now);
    this.counters.tcpActiveOpens++;
    this.touch(c);
    return c;
  }

  /** Mark a connection as needing output after a user call; the stack's turn flushes it. */
  touch(c: Connection): void {
    // Once per turn: a batch of segments for one connection queues it once.
    if (c.queued) return;
    c.queued = true;
    this.dirty.push(c);
  }

  private ephemeralPort(remoteAddr: number, remotePort: number): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = Math.floor(this.random() * span);
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      if (this.listeners.has(port)) continue;
      if (this.lookup(remoteAddr, remotePort, port) !== null) continue;
      if (this.lookupTimeWait(remoteAddr, remotePort, port) !== null) continue;
      return port;
    }
    throw Object.assign(new Error('connect EADDRNOTAVAIL: no free ephemeral port'), { code: 'EADDRNOTAVAIL' });
  }

  // ---------------------------------------------------------------------------------
  // Demux tables

  private lookup(remoteAddr: number, remotePort: number, localPort: number): Connection | null {
    for (let c = this.table.get(demuxKey(remoteAddr, remotePort, localPort)) ?? null; c !== null; c = c.demuxNext) {
      if (c.remoteAddr === remoteAddr && c.remotePort === remotePort && c.localPort === localPort) return c;
    }
    return null;
  }

  private insert(c: Connection): void {
    c.tracer = this.tracerHook;
    const key = demuxKey(c.remoteAddr, c.remotePort, c.localPort);
    c.demuxNext = this.table.get(key) ?? null;
    this.table.set(key, c);
    this.connectionCount++;
  }

  private remove(c: Connection): void {
    const key = demuxKey(c.remoteAddr, c.remotePort, c.localPort);
    let prev: Connection | null = null;
    for (let x = this.table.get(key) ?? null; x !== null; prev = x, x = x.demuxNext) {
      if (x !== c) continue;
      if (prev === null) {
        if (x.demuxNext === null) this.table.delete(key);
        else this.table.set(key, x.demuxNext);
      } else {
        prev.demuxNext = x.demuxNext;
      }
      c.demuxNext = null;
      this.connectionCount--;
      this.timers.cancel(c);
      return;
    }
  }

  private lookupTimeWait(remoteAddr: number, remotePort: number, localPort: number): TimeWaitRecord | null {
    for (let r = this.timeWait.get(demuxKey(remoteAddr, remotePort, localPort)) ?? null; r !== null; r = r.next) {
      if (r.remoteAddr === remoteAddr && r.remotePort === remotePort && r.localPort === localPort) return r;
    }
    return null;
  }

  private removeTimeWait(r: TimeWaitRecord): void {
    const key = demuxKey(r.remoteAddr, r.remotePort, r.localPort);
    let prev: TimeWaitRecord | null = null;
    for (let x = this.timeWait.get(key) ?? null; x !== null; prev = x, x = x.next) {
      if (x !== r) continue;
      if (prev === null) {
        if (x.next === null) this.timeWait.delete(key);
        else this.timeWait.set(key, x.next);
      } else {
        prev.next = x.next;
      }
      r.next = null;
      r.expires = -1; // marks it gone for the expiry queue
      return;
    }
  }

  /** Replace a connection that reached TIME-WAIT with a compact record. */
  private toTimeWait(c: Connection): void {
    this.remove(c);
    const expires = c.deadlines[4 /* Timer.TIME_WAIT */]!;
    const r = new TimeWaitRecord(c.localPort, c.remoteAddr, c.remotePort, c.sndNxt, c.rcvNxt, expires);
    // What answering the peer's retransmitted FIN takes: the window last offered, and
    // the timestamp state (RFC 7323 §3.2; RFC 6191 uses it to reopen).
    r.window = Math.min(0xffff, c.rcvWnd >> c.rcvShift);
    if (c.tsOk) {
      r.tsOk = true;
      r.tsRecent = c.timestampRecent;
      r.tsOffset = c.timestampOffset;
    }
    const key = demuxKey(r.remoteAddr, r.remotePort, r.localPort);
    r.next = this.timeWait.get(key) ?? null;
    this.timeWait.set(key, r);
    this.timeWaitQueue.push(r);
    this.counters.tcpConnectionsClosed++;
  }

  // ---------------------------------------------------------------------------------
  // Input

  /**
   * A TCP segment addressed to us: `off`/`len` locate the TCP header and data. `rxFlags`
   * CHECKSUM_OK: the link vouches for the checksum (Link, RxFlag).
   */
  input(src: number, dst: number, buf: Buffer, off: number, len: number, now: number, rxFlags = 0): void {
    this.lastNow = now;
    const c = this.counters;
    c.tcpIn++;
    if (len < TCP_MIN_HEADER_LEN) return c.drop(DropReason.TCP_TRUNCATED);
    const tcp = this.view.wrap(buf, off, len);
    const hlen = tcp.headerLength;
    // RFC 9293 §3.1: the data offset counts 32-bit words, at least 5, within the segment.
    if (hlen < TCP_MIN_HEADER_LEN || hlen > len) return c.drop(DropReason.TCP_BAD_DATA_OFFSET);
    // RFC 9293 §3.1 and RFC 1122 §4.2.2.7: a segment with a bad checksum is discarded.
    if ((rxFlags & RxFlag.CHECKSUM_OK) === 0 && !tcp.checksumOk(src, dst)) return c.drop(DropReason.TCP_BAD_CHECKSUM);
    const seg = this.seg;
    // RFC 9293 §3.2: options are skipped by length; one that runs past the header is malformed.
    if (!parseTcpOptions(buf, tcp.optionsOffset, tcp.optionsLength, seg.options)) return c.drop(DropReason.TCP_BAD_OPTIONS);
    const srcPort = tcp.srcPort;
    const dstPort = tcp.dstPort;
    if (srcPort === 0 || dstPort === 0) return c.drop(DropReason.TCP_BAD_PORT);
    seg.seq = tcp.seq;
    seg.ack = tcp.ack;
    seg.flags = tcp.flags;
    seg.window = tcp.window;
    seg.urgent = tcp.urgentPointer;
    seg.buf = buf;
    seg.payloadOff = off + hlen;
    seg.payloadLen = len - hlen;

    const conn = this.lookup(src, srcPort, dstPort);
    if (this.tracerHook !== null) this.tracerHook.segmentIn(conn, src, srcPort, dstPort, seg, now);
    if (conn !== null) {
      conn.onSegment(seg, now);
      if (conn.dropped !== null) c.drop(DROP_REASON[conn.dropped]);
      this.touch(conn);
      return;
    }
    const tw = this.lookupTimeWait(src, srcPort, dstPort);
    if (tw !== null) {
      switch (timeWaitInput(tw, seg, now, 2 * this.config.msl)) {
        case TimeWaitAction.DROP:
          return;
        case TimeWaitAction.ACK:
          return this.sendControl(src, dstPort, srcPort, tw.sndNxt, tw.rcvNxt, TcpFlag.ACK, tw.window, tw.tsOk ? Math.floor(now) + tw.tsOffset : -1, tw.tsRecent);
        case TimeWaitAction.REOPEN: {
          this.removeTimeWait(tw);
          const listener = this.listeners.get(dstPort);
          if (listener !== undefined) return this.listenInput(listener, src, srcPort, dstPort, now, tw.sndNxt);
          break;
        }
      }
    }
    const listener = this.listeners.get(dstPort);
    if (listener !== undefined) return this.listenInput(listener, src, srcPort, dstPort, now, -1);
    this.closedInput(src, srcPort, dstPort);
  }

  /**
   * RFC 9293 §3.10.7.1: no connection. "An incoming segment containing a RST is
   * discarded. An incoming segment not containing a RST causes a RST to be sent":
   * <SEQ=SEG.ACK><CTL=RST> if the ACK bit is on, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
   */
  private closedInput(src: number, srcPort: number, dstPort: number): void {
    const seg = this.seg;
    this.counters.drop(DropReason.TCP_NO_SOCKET);
    if (seg.has(TcpFlag.RST)) return;
    if (seg.has(TcpFlag.ACK)) this.sendControl(src, dstPort, srcPort, seg.ack, 0, TcpFlag.RST);
    else this.sendControl(src, dstPort, srcPort, 0, seqAdd(seg.seq, seg.len), TcpFlag.RST | TcpFlag.ACK);
  }

  /**
   * RFC 9293 §3.10.7.2: LISTEN. First RST: ignore. Second ACK: <SEQ=SEG.ACK><CTL=RST>.
   * Third SYN: a new connection in SYN-RECEIVED. Anything else: drop.
   * `oldSndNxt` is the previous incarnation's SND.NXT when a SYN reopens TIME-WAIT, else -1.
   */
  private listenInput(l: Listener, src: number, srcPort: number, dstPort: number, now: number, oldSndNxt: number): void {
    const seg = this.seg;
    if (seg.has(TcpFlag.RST)) return;
    if (seg.has(TcpFlag.ACK)) return this.sendControl(src, dstPort, srcPort, seg.ack, 0, TcpFlag.RST);
    if (!seg.has(TcpFlag.SYN)) return;
    if (l.synReceived >= l.synBacklog || l.acceptQueue.length >= l.backlog) {
      // RFC 4987 §3.1: with the backlog full, new SYNs are dropped (the peer retries).
      this.counters.drop(DropReason.TCP_LISTEN_OVERFLOW);
      return;
    }
    let iss = this.isn.isn(now * 1000, this.ip.address, dstPort, src, srcPort);
    // RFC 1122 §4.2.2.13: a reopened connection's ISN must exceed the old SND.NXT.
    if (oldSndNxt >= 0 && !seqGt(iss, oldSndNxt)) iss = seqAdd(oldSndNxt, 0x10000);
    const c = new Connection(this.config, this.ip.address, dstPort, src, srcPort, iss, this.cc);
    c.owner = l;
    this.insert(c);
    c.acceptSyn(seg, now);
    l.synReceived++;
    this.counters.tcpPassiveOpens++;
    this.touch(c);
  }

  // ---------------------------------------------------------------------------------
  // Output and events

  flush(now: number): void {
    this.lastNow = now;
    const dirty = this.dirty;
    // Owners may make more connections dirty while we deliver events; they are appended
    // and handled in this same pass (bounded, so a misbehaving owner cannot spin us).
    const limit = 4 * (dirty.length + this.connectionCount) + 1024;
    let i = 0;
    for (; i < dirty.length && i < limit; i++) {
      const c = dirty[i]!;
      c.queued = false; // an owner's call during its events queues it again
      this.deliverEvents(c, now);
      this.transmit(c, now);
      this.settle(c, now);
    }
    for (let j = i; j < dirty.length; j++) dirty[j]!.queued = false; // past the bound: the next input or call queues them again
    dirty.length = 0;
    if (i > 0) this.onChange?.();
  }

  private deliverEvents(c: Connection, now: number): void {
    const owner = c.owner;
    if (!c.hasEvents && !(owner instanceof Listener)) return;
    if (owner instanceof Listener) {
      // An embryonic connection belongs to its listener until the handshake completes;
      // its events stay queued for the socket that accepts it. One that fails first just
      // vanishes (RFC 9293 §3.10.7.4: a passive SYN-RECEIVED "returns to LISTEN").
      if (c.state === TcpState.SYN_RECEIVED) return;
      owner.synReceived--;
      if (c.isClosed || owner.closed) {
        if (!c.isClosed) c.abort(now);
        while (c.pollEvent() !== 0);
        return;
      }
      c.owner = null;
      owner.acceptQueue.push(c);
      owner.owner.onAcceptable(owner);
      return;
    }
    if (owner !== null && typeof (owner as ConnectionOwner).onConnectionEvents === 'function') {
      (owner as ConnectionOwner).onConnectionEvents(c);
    } else {
      // Nobody holds it (an owner let go): its events go nowhere, but they must not pile
      // up and keep a finished connection from retiring.
      while (c.pollEvent() !== 0);
    }
  }

  private transmit(c: Connection, now: number): void {
    const out = this.out;
    for (let n = 0; n < 4096 && c.pollSegment(out, now); n++) {
      this.emit(c, out);
    }
  }

  /** After a connection's turn: retire it if it is done, else file its next deadline. */
  private settle(c: Connection, now: number): void {
    if (c.state === TcpState.TIME_WAIT) {
      if (c.hasEvents) return; // its owner still has to hear about it; next turn
      // A connection can be in the dirty list more than once: retire it once.
      if (this.lookup(c.remoteAddr, c.remotePort, c.localPort) !== c) return;
      return this.toTimeWait(c);
    }
    if (c.state === TcpState.CLOSED) {
      if (this.lookup(c.remoteAddr, c.remotePort, c.localPort) === c) {
        this.remove(c);
        this.counters.tcpConnectionsClosed++;
      }
      return;
    }
    this.timers.schedule(c, c.nextDeadline());
    void now;
  }

  /** Build the packet for `out` in the link's transmit buffer and send it. */
  private emit(c: Connection, out: SegmentOut): void {
    const syn = (out.flags & TcpFlag.SYN) !== 0;
    const opts = out.options;
    const optLen = tcpOptionsLength(opts, syn);
    const hlen = TCP_MIN_HEADER_LEN + optLen;
    const total = hlen + out.dataLen;
    const ipOut = this.ip.output;
    const at = ipOut.begin(total);
    const buf = ipOut.buf;
    writeTcpHeader(buf, at, c.localPort, c.remotePort, out.seq, out.ack, hlen, out.flags, out.window, 0);
    if (optLen > 0) writeTcpOptions(buf, at + TCP_MIN_HEADER_LEN, opts, syn);
    if (out.dataLen > 0) c.sendBuf.copyOut(out.dataFrom, buf, at + hlen, out.dataLen);
    // A TSO packet is cut into segments of the payload an MSS leaves beside these options
    // (RFC 6691 §2), as fillData() sized it.
    this.send(at, total, c.remoteAddr, Math.max(1, c.sndMss - optLen));
    this.counters.tcpOut++;
    if (out.flags & TcpFlag.RST) this.counters.tcpRstOut++;
    if (out.retransmit) this.counters.tcpRetransmits++;
    if (this.tracerHook !== null) this.tracerHook.segmentOut(c, c.remoteAddr, c.remotePort, c.localPort, out, this.lastNow);
  }

  /**
   * Checksum the `len`-byte segment at `at` in the IP output buffer, or leave that to an
   * offloading link (which also cuts it into `segSize`-byte segments if it is larger), and
   * hand it to IP. RFC 1191-style DF on every segment: TCP never needs fragmenting.
   */
  private send(at: number, len: number, dst: number, segSize: number): void {
    const ipOut = this.ip.output;
    if (this.offload) {
      writeTcpPartialChecksum(ipOut.buf, at, len, this.ip.address, dst);
      ipOut.end(IpProtocol.TCP, dst, len, true, segSize);
    } else {
      finishTcpChecksum(ipOut.buf, at, len, this.ip.address, dst);
      ipOut.end(IpProtocol.TCP, dst, len, true);
    }
  }

  /**
   * A bare control segment (RST, or the ACK of a TIME-WAIT record) with no connection
   * behind it. `tsVal` ≥ 0 adds the timestamps option (RFC 7323 §3.2: on every non-RST
   * segment of a connection that negotiated them).
   */
  private sendControl(dst: number, srcPort: number, dstPort: number, seq: number, ack: number, flags: number, window = 0, tsVal = -1, tsEcr = 0): void {
    const out = this.out;
    out.reset();
    out.seq = seq >>> 0;
    out.ack = ack >>> 0;
    out.flags = flags;
    out.window = window;
    if (tsVal >= 0) {
      out.options.hasTimestamps = true;
      out.options.tsVal = tsVal >>> 0;
      out.options.tsEcr = tsEcr >>> 0;
    }
    const hlen = TCP_MIN_HEADER_LEN + tcpOptionsLength(out.options, false);
    const ipOut = this.ip.output;
    const at = ipOut.begin(hlen);
    const buf = ipOut.buf;
    writeTcpHeader(buf, at, srcPort, dstPort, out.seq, out.ack, hlen, flags, window, 0);
    if (hlen > TCP_MIN_HEADER_LEN) writeTcpOptions(buf, at + TCP_MIN_HEADER_LEN, out.options, false);
    this.send(at, hlen, dst, this.config.mss);
    this.counters.tcpOut++;
    if (flags & TcpFlag.RST) this.counters.tcpRstOut++;
    if (this.tracerHook !== null) this.tracerHook.segmentOut(null, dst, dstPort, srcPort, out, this.lastNow);
  }

  // ---------------------------------------------------------------------------------
  // Timers

  nextDeadline(): number {
    const tw = this.timeWaitFront();
    return Math.min(this.timers.peek(), tw === null ? Infinity : tw.expires);
  }

  poll(now: number): void {
    for (let c = this.timers.popDue(now); c !== null; c = this.timers.popDue(now)) {
      if (c.nextDeadline() <= now) c.onTimer(now);
      this.touch(c);
    }
    for (let r = this.timeWaitFront(); r !== null && r.expires <= now; r = this.timeWaitFront()) {
      this.timeWaitHead++;
      this.removeTimeWait(r);
    }
    this.compactTimeWaitQueue();
  }

  /** The oldest live TIME-WAIT record; records whose FIN restarted the clock go to the back. */
  private timeWaitFront(): TimeWaitRecord | null {
    const q = this.timeWaitQueue;
    while (this.timeWaitHead < q.length) {
      const r = q[this.timeWaitHead]!;
      if (r.expires < 0) {
        this.timeWaitHead++;
        continue;
      }
      return r;
    }
    return null;
  }

  private compactTimeWaitQueue(): void {
    const q = this.timeWaitQueue;
    if (this.timeWaitHead > 1024 && this.timeWaitHead * 2 > q.length) {
      q.splice(0, this.timeWaitHead);
      this.timeWaitHead = 0;
    }
  }

  /** Stack shutdown: reset every connection and forget all state. */
  close(now: number): void {
    for (const l of [...this.listeners.values()]) this.unlisten(l, now);
    for (const c of [...this.connections()]) {
      c.abort(now);
      this.touch(c);
    }
    this.timeWait.clear();
    this.timeWaitQueue.length = 0;
    this.timeWaitHead = 0;
  }
}
