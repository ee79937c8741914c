/**
 * The simulator's network: two tuntcp hosts (IPv4 + TCP, as test/helpers/sim-host.ts
 * builds them, but over any Link so the impairment shim can sit under the IP layer)
 * joined by a virtual wire with a fixed one-way latency, all on one virtual clock.
 *
 * Nothing here reads a real clock or arms a real timer. `SimNet.run()` alternates two
 * moves until nothing is left to do:
 *
 * 1. deliver every packet due on the wire now, one batch per direction per round (so a
 *    zero-latency exchange runs in rounds at the same instant, never recursively);
 * 2. when the wire has nothing due, jump virtual time to the earliest deadline of either
 *    host's TCP and IP layers, the shim's held packets, the wire, or an application tick,
 *    and run what is due.
 *
 * A run that is still busy past its virtual-time bound, or spins at one instant, or takes
 * too many steps, ends with a `SimHang` error: a hang is a failure, never a stuck test.
 */
import { Counters } from '../../../src/counters';
import { IpLayer } from '../../../src/ip/ip-layer';
import { ImpairSpec, ImpairedLink } from '../../../src/link/impair';
import { Link, LinkReceiver } from '../../../src/link/link';
import { MemoryLink } from '../../../src/link/memory-link';
import { TcpConfig } from '../../../src/tcp/config';
import type { Connection } from '../../../src/tcp/connection';
import { TcpLayer } from '../../../src/tcp/tcp-layer';
import { TIMER_NAMES, TcpTracer } from '../../../src/tcp/tracer';
import { parseIpv4 } from '../../../src/wire/ipv4';
import { TcpFlag } from '../../../src/wire/tcp';
import { decode } from '../../helpers/segments';
import { hostLayers } from '../../helpers/sim-host';

export interface SimNodeOptions {
  mtu?: number;
  /** The link segments TCP itself (MemoryLink's software TSO). */
  tso?: boolean;
  config?: Partial<TcpConfig>;
  /** ISN secret fill byte and ephemeral-port PRNG seed. */
  secret?: number;
  seed?: number;
  /** Put an impairment shim under this host's IP layer (both directions). */
  impair?: { spec: ImpairSpec; seed: number; reorderHoldMs?: number };
}

/** One host: TcpLayer → IpLayer → [ImpairedLink →] MemoryLink. */
export class SimNode implements LinkReceiver {
  readonly counters = new Counters();
  /** The bottom of the stack: what the wire reads from and injects into. */
  readonly mem: MemoryLink;
  /** What the IP layer sends through: the shim if there is one, else `mem`. */
  readonly link: Link;
  readonly impaired: ImpairedLink | null;
  readonly ip: IpLayer;
  readonly tcp: TcpLayer;
  now = 0;

  constructor(readonly address: string, opts: SimNodeOptions = {}) {
    this.mem = new MemoryLink(opts.mtu ?? 1500, 64, { tso: opts.tso === true });
    if (opts.impair !== undefined) {
      this.impaired = new ImpairedLink(this.mem, opts.impair.spec, {
        clock: () => this.now,
        // The simulator folds nextDeadline() into its own; nothing to arm.
        schedule: () => {},
        seed: opts.impair.seed,
        reorderHoldMs: opts.impair.reorderHoldMs,
      });
      this.link = this.impaired;
    } else {
      this.impaired = null;
      this.link = this.mem;
    }
    ({ ip: this.ip, tcp: this.tcp } = hostLayers(this.link, this.counters, address, opts));
    this.link.start(this);
  }

  get addr(): number {
    return parseIpv4(this.address)!;
  }

  receive(buf: Buffer, off: number, len: number, flags: number): void {
    this.ip.input(buf, off, len, this.now, flags);
  }

  endOfBatch(): void {
    this.turn();
  }

  /** What a driver does after input or a user call: flush output. */
  turn(): void {
    this.tcp.flush(this.now);
    this.link.flush();
  }

  nextDeadline(): number {
    return Math.min(this.tcp.nextDeadline(), this.ip.nextDeadline(), this.impaired?.nextDeadline() ?? Infinity);
  }

  /** Advance to `t`: release the shim's due packets, run timers due by then, flush. */
  advance(t: number): void {
    this.now = t;
    this.impaired?.poll(t);
    this.ip.poll(t);
    this.tcp.poll(t);
    this.turn();
  }
}

/** Something on the virtual clock besides the hosts: an application with deadlines. */
export interface SimActor {
  /** The next time `tick()` has work, or Infinity. */
  nextTick(): number;
  tick(now: number): void;
}

export class SimHang extends Error {
  override name = 'SimHang';
}

export interface SimLimits {
  /** Virtual ms after which a run still busy is a hang. */
  maxTime: number;
  /** Virtual ms without progress (see `SimNet.progress`) after which a busy run is a hang. */
  maxStall: number;
  /** Loop iterations (deliveries plus time jumps) in all. */
  maxSteps: number;
  /** Delivery rounds at one virtual instant: more is a livelock. */
  maxRoundsPerInstant: number;
}

/**
 * Generous on purpose: without timestamps a long run of losses keeps the RTO backed off
 * (Karn's rule), so a 2 MB transfer through a 4 KiB window at 30% loss legitimately takes
 * hours of virtual time. A stall is different: with the simulator's retry limit
 * (40 retries, RTO ≤ 10 s) a connection gives up well within 20 minutes of no progress.
 */
export const DEFAULT_LIMITS: SimLimits = { maxTime: 48 * 3_600_000, maxStall: 20 * 60_000, maxSteps: 3_000_000, maxRoundsPerInstant: 50_000 };

interface InFlight {
  at: number;
  pkt: Buffer;
}

/** A bounded log of what happened, for failure reports (`SIM_TRACE=1` prints it all). */
export class SimTrace {
  readonly lines: string[] = [];
  constructor(readonly limit: number, readonly echo = false) {}
  add(line: string): void {
    if (this.echo) console.log(line);
    this.lines.push(line);
    if (this.lines.length > this.limit * 2) this.lines.splice(0, this.lines.length - this.limit);
  }
  tail(n = this.limit): string[] {
    return this.lines.slice(-n);
  }
}

export class SimNet {
  now = 0;
  steps = 0;
  /** Packets put on the wire, per direction. */
  packetsAB = 0;
  packetsBA = 0;
  readonly actors: SimActor[] = [];
  /** Called after every delivery round and time jump (scenario logic: simultaneous close). */
  onStep: (() => void) | null = null;
  /** Called when the network is quiescent; return true if it made new work (it is asked again). */
  onQuiescent: (() => boolean) | null = null;
  /** Packets filtered off the wire (true = lost): the targeted tests' "peer vanishes". */
  cut: ((pkt: Buffer, fromA: boolean) => boolean) | null = null;
  trace: SimTrace | null = null;
  /** A number that grows whenever the run makes progress (bytes delivered or acknowledged, events). */
  progress: (() => number) | null = null;
  private lastProgress = -1;
  private lastProgressAt = 0;
  private readonly ab: InFlight[] = [];
  private readonly ba: InFlight[] = [];
  private abHead = 0;
  private baHead = 0;

  constructor(readonly a: SimNode, readonly b: SimNode, readonly latency = 0, readonly limits: SimLimits = DEFAULT_LIMITS) {
    a.mem.onTransmit = (pkt) => {
      a.mem.sent.length = 0; // the wire keeps its own copy
      this.packetsAB++;
      this.traceWire('A>B', pkt);
      if (this.cut?.(pkt, true) !== true) this.ab.push({ at: this.now + latency, pkt });
    };
    b.mem.onTransmit = (pkt) => {
      b.mem.sent.length = 0;
      this.packetsBA++;
      this.traceWire('B>A', pkt);
      if (this.cut?.(pkt, false) !== true) this.ba.push({ at: this.now + latency, pkt });
    };
  }

  /** Watch both hosts (and log wire packets, segments and state changes to `trace` if given). */
  tap(trace: SimTrace | null): [SimTap, SimTap] {
    this.trace = trace;
    const ta = new SimTap('A', trace);
    const tb = new SimTap('B', trace);
    this.a.tcp.tracer = ta;
    this.b.tcp.tracer = tb;
    this.taps = [ta, tb];
    return [ta, tb];
  }

  private taps: SimTap[] = [];

  private traceWire(dir: string, pkt: Buffer): void {
    if (this.trace === null) return;
    let what: string;
    try {
      const d = decode(pkt);
      what = `${d.flags} seq=${d.seq} ack=${d.ack} len=${d.len} win=${d.win}`;
    } catch {
      what = `(${pkt.length} bytes, not TCP)`;
    }
    this.trace.add(`${this.now.toFixed(3)} wire ${dir} ${what}`);
  }

  /** Packets on the wire, not yet delivered. */
  get inFlight(): number {
    return this.ab.length - this.abHead + this.ba.length - this.baHead;
  }

  /** Deliver what is due now, one batch per direction. Returns packets moved. */
  deliverDue(): number {
    this.a.now = this.b.now = this.now;
    const toB = this.takeDue(this.ab, true);
    const toA = this.takeDue(this.ba, false);
    if (toB.length > 0) this.b.mem.inject(...toB);
    if (toA.length > 0) this.a.mem.inject(...toA);
    return toB.length + toA.length;
  }

  private takeDue(q: InFlight[], ab: boolean): Buffer[] {
    let head = ab ? this.abHead : this.baHead;
    const out: Buffer[] = [];
    while (head < q.length && q[head]!.at <= this.now) out.push(q[head++]!.pkt);
    if (head > 1024 && head * 2 > q.length) {
      q.splice(0, head);
      head = 0;
    }
    if (ab) this.abHead = head;
    else this.baHead = head;
    return out;
  }

  /** The earliest time anything has work: hosts, shims, wire, actors. */
  nextEventTime(): number {
    let t = Math.min(this.a.nextDeadline(), this.b.nextDeadline());
    const ab = this.ab[this.abHead];
    const ba = this.ba[this.baHead];
    if (ab !== undefined && ab.at < t) t = ab.at;
    if (ba !== undefined && ba.at < t) t = ba.at;
    for (const x of this.actors) t = Math.min(t, x.nextTick());
    return t;
  }

  /** Run until nothing is left to do (or until virtual time `until`). Throws SimHang. */
  run(until = Infinity): void {
    const lim = this.limits;
    let rounds = 0;
    for (;;) {
      if (++this.steps > lim.maxSteps) throw new SimHang(`step limit: ${lim.maxSteps} steps by t=${this.now} ms`);
      const moved = this.deliverDue();
      for (const tap of this.taps) tap.verify();
      this.onStep?.();
      if (moved > 0) {
        if (++rounds > lim.maxRoundsPerInstant) throw new SimHang(`livelock: ${rounds} delivery rounds at t=${this.now} ms without time passing`);
        continue;
      }
      const t = this.nextEventTime();
      if (t === Infinity) {
        if (this.onQuiescent?.() === true) continue;
        return;
      }
      if (t > until) return;
      if (t > lim.maxTime) throw new SimHang(`still busy at the time limit: next event at t=${t} ms > ${lim.maxTime} ms`);
      if (this.progress !== null) {
        const p = this.progress();
        if (p !== this.lastProgress) {
          this.lastProgress = p;
          this.lastProgressAt = this.now;
        } else if (t - this.lastProgressAt > lim.maxStall) {
          throw new SimHang(`stalled: no progress since t=${this.lastProgressAt} ms, next event at t=${t} ms`);
        }
      }
      if (t > this.now) {
        this.now = t;
        rounds = 0;
      } else if (++rounds > lim.maxRoundsPerInstant) {
        throw new SimHang(`livelock: deadlines at t=${this.now} ms keep firing without time passing`);
      }
      this.a.advance(this.now);
      this.b.advance(this.now);
      for (const x of this.actors) if (x.nextTick() <= this.now) x.tick(this.now);
      for (const tap of this.taps) tap.verify();
      this.onStep?.();
    }
  }
}

/**
 * Watches both hosts' TCP layers: the state transitions and timers seen (coverage), the
 * state each connection left for CLOSED, and optionally a line per event in a SimTrace.
 */
export class SimTap implements TcpTracer {
  /** `FROM>TO` transitions and `timer:NAME` firings seen. */
  readonly seen = new Set<string>();
  /** For each connection that reached CLOSED, the state it came from. */
  readonly closedFrom = new Map<Connection, string>();
  /** Broken invariants seen while running (see `verify()`). */
  readonly violations: string[] = [];
  /** For each connection that sent its FIN: the sequence number one past it. */
  private readonly finEnd = new Map<Connection, number>();
  /** Connections in CLOSING or LAST-ACK that were just handed an ACK of their FIN. */
  private readonly finAcked: { conn: Connection; what: string }[] = [];
  constructor(private readonly host: string, private readonly trace: SimTrace | null = null) {}
  segmentIn(conn: Connection | null, _ra: number, _rp: number, _lp: number, seg: { seq: number; ack: number; flags: number; payloadLen: number; window: number }, now: number): void {
    this.trace?.add(`${now.toFixed(3)} ${this.host} in  ${conn === null ? '(no conn)' : conn.state} flags=${seg.flags} seq=${seg.seq} ack=${seg.ack} len=${seg.payloadLen} win=${seg.window}`);
    // An in-order ACK of our FIN (SEG.SEQ = RCV.NXT, so the sequence check of RFC 9293
    // §3.10.7.4 passes), in a state that waits for nothing else: it can only have been sent
    // after our FIN arrived, so nothing newer can have made it stale (ACKs are cumulative,
    // timestamps monotonic). It must end the wait. (An old duplicate of the peer's FIN
    // that happens to ack ours is rightly dropped by the sequence check: not counted.)
    if (
      conn !== null &&
      (conn.state === 'CLOSING' || conn.state === 'LAST-ACK') &&
      (seg.flags & (TcpFlag.ACK | TcpFlag.RST | TcpFlag.SYN)) === TcpFlag.ACK &&
      seg.seq === conn.rcvNxt &&
      seg.ack === this.finEnd.get(conn)
    ) {
      this.finAcked.push({ conn, what: `t=${now} ${this.host} in ${conn.state}: ACK seq=${seg.seq} ack=${seg.ack} (rcvNxt=${conn.rcvNxt})` });
    }
  }
  /** Check what can only be judged after a segment was processed. */
  verify(): void {
    for (const { conn, what } of this.finAcked) {
      if (conn.state === 'CLOSING' || conn.state === 'LAST-ACK') {
        this.violations.push(`an ACK of our FIN was ignored: ${what}, still ${conn.state}, dropped as ${conn.dropped ?? 'nothing'}`);
      }
    }
    this.finAcked.length = 0;
  }
  segmentOut(conn: Connection | null, _ra: number, _rp: number, _lp: number, out: { seq: number; ack: number; flags: number; dataLen: number; window: number; retransmit: boolean }, now: number): void {
    if (conn !== null && (out.flags & TcpFlag.FIN) !== 0) this.finEnd.set(conn, (out.seq + out.dataLen + 1) >>> 0);
    this.trace?.add(`${now.toFixed(3)} ${this.host} out ${conn === null ? '(no conn)' : conn.state} flags=${out.flags} seq=${out.seq} ack=${out.ack} len=${out.dataLen} win=${out.window}${out.retransmit ? ' rtx' : ''}`);
  }
  stateChange(c: Connection, from: string, to: string, now: number): void {
    this.seen.add(`${from}>${to}`);
    if (to === 'CLOSED') this.closedFrom.set(c, from);
    this.trace?.add(`${now.toFixed(3)} ${this.host} state ${from} -> ${to}`);
  }
  timerFired(_c: Connection, timer: number, now: number): void {
    const name = TIMER_NAMES[timer] ?? String(timer);
    this.seen.add(`timer:${name}`);
    this.trace?.add(`${now.toFixed(3)} ${this.host} timer ${name}`);
  }
}
