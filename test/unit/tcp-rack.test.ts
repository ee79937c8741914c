/**
 * RACK-TLP (RFC 8985): the transmission log and RACK's steps at exact virtual times, then
 * two stacks over a delaying, lossy path: lost retransmissions resent without an RTO, tail
 * losses repaired by a probe, and bulk transfers through 5% and 20% random loss both ways.
 */
import test from 'ava';
import fc from 'fast-check';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { Rack, SegState, TLP_INITIAL_PTO, TLP_MAX_ACK_DELAY, TLP_MIN_PTO, TransmitLog, probeDeadline, sentAfter } from '../../src/tcp/rack';
import { seqAdd } from '../../src/tcp/seq';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { TcpConfig } from '../../src/tcp/config';
import { TcpState } from '../../src/tcp/state';
import { decode } from '../helpers/segments';
import { SimHost, Wire } from '../helpers/sim-host';

/** Sequence numbers just below the 2^32 wrap, so every range below crosses it. */
const BASE = 0xffff_f000;
const at = (off: number): number => seqAdd(BASE, off);

/** Append `n` segments of `len` bytes from BASE, the i-th sent at `times[i]`. */
function fill(log: TransmitLog, n: number, len: number, times: number[]): void {
  for (let i = 0; i < n; i++) log.append(at(i * len), at((i + 1) * len), times[i]!);
}

function entries(log: TransmitLog): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  for (let i = 0; i < log.length; i++) out.push([(log.start(i) - BASE) >>> 0, (log.end(i) - BASE) >>> 0, log.xmitTs(i), log.state(i)]);
  return out;
}

// ---------------------------------------------------------------------------------
// The transmission log (RFC 8985 §6.1)

test('the log is a ring: it wraps in place, and grows by doubling only when full', (t) => {
  const log = new TransmitLog(4);
  fill(log, 4, 1000, [0, 1, 2, 3]);
  t.is(log.capacity, 4);
  t.is(log.bytes, 4000);
  // The cumulative ACK takes two off the front; two more fit without growing (the ring wraps).
  log.shift();
  log.shift();
  log.append(at(4000), at(5000), 4);
  log.append(at(5000), at(6000), 5);
  t.is(log.capacity, 4);
  t.deepEqual(entries(log), [
    [2000, 3000, 2, 0],
    [3000, 4000, 3, 0],
    [4000, 5000, 4, 0],
    [5000, 6000, 5, 0],
  ]);
  // Full: the next one doubles the ring, keeping the order.
  log.append(at(6000), at(7000), 6);
  t.is(log.capacity, 8);
  t.deepEqual(
    entries(log).map((e) => e[0]),
    [2000, 3000, 4000, 5000, 6000],
  );
  t.is(log.bytes, 5000);
  t.is(log.indexOf(at(4500)), 2);
  t.is(log.indexOf(at(4000)), 2);
  t.is(log.indexOf(at(1999)), -1);
  t.is(log.indexOf(at(7000)), -1);
  t.is(log.lowerBound(at(4001)), 3);
});

test('retransmitting part of an entry splits it; SACK and lost marks keep the pipe', (t) => {
  const log = new TransmitLog(2);
  log.append(at(0), at(3000), 0);
  log.retransmitted(at(1000), at(2000), 50);
  t.deepEqual(entries(log), [
    [0, 1000, 0, 0],
    [1000, 2000, 50, SegState.RETRANSMITTED],
    [2000, 3000, 0, 0],
  ]);
  t.is(log.capacity, 4);
  t.is(log.pipe, 3000);
  t.true(log.markLost(2));
  t.false(log.markLost(2), 'already lost');
  t.is(log.lostBytes, 1000);
  t.is(log.pipe, 2000, 'RFC 6675 SetPipe: a lost segment is not in the network');
  log.retransmitted(at(2000), at(3000), 60);
  t.is(log.lostBytes, 0, 'sent again: in flight once more');
  t.is(log.state(2), SegState.RETRANSMITTED);
  t.true(log.markSacked(0));
  t.is(log.sackedSegs, 1);
  t.is(log.pipe, 2000);
  t.false(log.markLost(0), 'a SACKed segment is never lost');
  log.trimFront(at(500));
  t.is(log.bytes, 2500);
  t.is(log.sackedBytes, 500);
  log.clearSacked();
  t.is(log.sackedBytes, 0);
  t.is(log.sackedSegs, 0);
  t.is(log.pipe, 2500);
  const hole = { start: 0, end: 0 };
  t.true(log.lastUnsacked(hole));
  t.deepEqual([(hole.start - BASE) >>> 0, (hole.end - BASE) >>> 0], [2000, 3000]);
});

test('property: under any mix of sends, retransmissions, SACKs, losses and ACKs the log tiles the flight and its counters add up', (t) => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('send' as const), len: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ k: fc.constant('rtx' as const), from: fc.nat(), len: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ k: fc.constant('sack' as const), i: fc.nat() }),
    fc.record({ k: fc.constant('lost' as const), i: fc.nat() }),
    fc.record({ k: fc.constant('ack' as const), len: fc.nat({ max: 4000 }) }),
    fc.record({ k: fc.constant('reneg' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
      const log = new TransmitLog(2);
      let una = BASE;
      let nxt = BASE;
      let now = 0;
      for (const o of ops) {
        now++;
        const flight = (nxt - una) >>> 0;
        if (o.k === 'send') {
          log.append(nxt, seqAdd(nxt, o.len), now);
          nxt = seqAdd(nxt, o.len);
        } else if (o.k === 'rtx' && flight > 0) {
          const from = seqAdd(una, o.from % flight);
          const to = seqAdd(from, Math.min(o.len, (nxt - from) >>> 0));
          log.retransmitted(from, to, now);
        } else if ((o.k === 'sack' || o.k === 'lost') && log.length > 0) {
          if (o.k === 'sack') log.markSacked(o.i % log.length);
          else log.markLost(o.i % log.length);
        } else if (o.k === 'ack' && flight > 0) {
          una = seqAdd(una, Math.min(o.len, flight));
          while (log.length > 0 && ((log.end(0) - una) | 0) <= 0) log.shift();
          if (log.length > 0) log.trimFront(una);
        } else if (o.k === 'reneg') {
          log.clearSacked();
        }
        // Invariants: contiguous tiling of [una, nxt), counters equal to the sums.
        let at = una;
        let sacked = 0;
        let segs = 0;
        let lost = 0;
        for (let i = 0; i < log.length; i++) {
          if (log.start(i) !== at) return false;
          const len = (log.end(i) - log.start(i)) | 0;
          if (len <= 0) return false;
          const st = log.state(i);
          if (st & SegState.SACKED) {
            sacked += len;
            segs++;
            if (st & SegState.LOST) return false;
          }
          if (st & SegState.LOST) lost += len;
          at = log.end(i);
        }
        if (log.length > 0 && at !== nxt) return false;
        if (log.bytes !== ((nxt - una) >>> 0) || log.sackedBytes !== sacked || log.sackedSegs !== segs || log.lostBytes !== lost) return false;
        if ((log.capacity & (log.capacity - 1)) !== 0 || log.capacity < log.length) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('RACK_sent_after orders by transmit time, then by end sequence across the wrap', (t) => {
  t.true(sentAfter(2, at(0), 1, at(5000)));
  t.false(sentAfter(1, at(5000), 2, at(0)));
  t.true(sentAfter(1, at(5000), 1, at(4000)));
  t.false(sentAfter(1, at(4000), 1, at(4000)));
});

// ---------------------------------------------------------------------------------
// RACK (RFC 8985 §6.2)

test('detect-loss: sent before RACK.segment and RACK.rtt + reo_wnd old, at exact times', (t) => {
  const r = new Rack(4);
  r.reset(BASE);
  fill(r.log, 4, 1000, [0, 1, 2, 3]);
  // At t=10 an ACK SACKs the fourth segment (sent at 3): RACK.segment is it, RACK.rtt 7.
  r.beginAck(Infinity);
  r.sack(at(3000), at(4000), 10);
  t.true(r.endAck(10));
  t.is(r.xmitTs, 3);
  t.is(r.endSeq, at(4000));
  t.is(r.rtt, 7);
  t.is(r.minRtt, 7, 'step 1: a segment sent once is an RTT sample');
  t.is(r.reoWnd(false, 8), 7 / 4, 'reo_wnd = min_RTT / 4 (under SRTT)');
  // With reo_wnd 2 the first three are due at 0+7+2 = 9, 10 and 11.
  t.is(r.detectLoss(9.5, 2), 10, 'the reordering timer is armed for the next one due');
  t.is(r.lostNow, 1);
  t.is(r.detectLoss(10, 2), 11);
  t.is(r.lostNow, 1, 'due exactly now: lost');
  t.is(r.detectLoss(10.999, 2), 11);
  t.is(r.lostNow, 0);
  t.is(r.detectLoss(11, 2), Infinity);
  t.is(r.lostNow, 1);
  t.deepEqual(
    entries(r.log).map((e) => e[3]),
    [SegState.LOST, SegState.LOST, SegState.LOST, SegState.SACKED],
  );
  t.is(r.log.pipe, 0);
});

test('detect-loss: segments sent after RACK.segment are never lost, and a lost retransmission is found', (t) => {
  const r = new Rack();
  r.reset(BASE);
  fill(r.log, 3, 1000, [0, 0, 0]);
  // The first is retransmitted at 5; new data goes at 6.
  r.log.retransmitted(at(0), at(1000), 5);
  r.log.append(at(3000), at(4000), 6);
  // At 8 the segment sent at 6 is SACKed: everything sent before 6 is 2 ms old or more.
  r.beginAck(Infinity);
  r.sack(at(3000), at(4000), 8);
  r.endAck(8);
  t.is(r.rtt, 2);
  t.is(r.detectLoss(8, 0), Infinity);
  t.is(r.lostNow, 3, 'the retransmission (sent at 5) and both originals');
  // Same time, lower sequence: sent before (RACK_sent_after's tie-break).
  const s = new Rack();
  s.reset(BASE);
  fill(s.log, 3, 1000, [4, 4, 4]);
  s.beginAck(Infinity);
  s.sack(at(1000), at(2000), 6);
  s.endAck(6);
  t.is(s.detectLoss(6, 0), Infinity);
  t.deepEqual(
    entries(s.log).map((e) => e[3]),
    [SegState.LOST, SegState.SACKED, 0],
  );
});

test('reo_wnd: min_RTT/4 capped at SRTT; zero in recovery or with DupThresh SACKed, unless reordering was seen', (t) => {
  const r = new Rack();
  r.reset(BASE);
  r.onRttSample(8);
  t.is(r.reoWnd(false, 100), 2);
  t.is(r.reoWnd(false, 1), 1);
  t.is(r.reoWnd(true, 100), 0);
  fill(r.log, 5, 1000, [0, 1, 2, 3, 4]);
  r.beginAck(Infinity);
  r.sack(at(4000), at(5000), 20);
  r.endAck(20);
  t.is(r.reoWnd(false, 100), 2);
  r.beginAck(Infinity);
  r.sack(at(2000), at(4000), 21);
  r.endAck(21);
  t.is(r.log.sackedSegs, 3);
  t.true(r.reorderingSeen, 'segments never retransmitted were delivered below RACK.fack');
  t.is(r.reoWnd(true, 100), 2, 'once the path reorders, the window stays open');
  const q = new Rack();
  q.reset(BASE);
  q.onRttSample(8);
  fill(q.log, 3, 1000, [0, 1, 2]);
  q.beginAck(Infinity);
  q.sack(at(0), at(3000), 20);
  q.endAck(20);
  t.false(q.reorderingSeen);
  t.is(q.reoWnd(false, 100), 0, 'three segments SACKed: DupThresh');
});

test('step 2: a retransmission acknowledged too soon, or with an older timestamp echo, is not RACK.segment', (t) => {
  const r = new Rack();
  r.reset(BASE);
  r.onRttSample(10);
  fill(r.log, 2, 1000, [0, 0]);
  r.log.retransmitted(at(0), at(1000), 100);
  // 2 ms after the retransmission: less than min_RTT, so the ACK is for the original.
  r.beginAck(Infinity);
  r.cumulativeAck(at(1000), 102);
  t.false(r.endAck(102));
  t.false(r.hasXmit);
  // 50 ms after, but the ACK echoes a timestamp from before the retransmission.
  r.log.retransmitted(at(1000), at(2000), 100);
  r.beginAck(0);
  r.cumulativeAck(at(2000), 150);
  t.false(r.endAck(150));
  const s = new Rack();
  s.reset(BASE);
  s.onRttSample(10);
  fill(s.log, 1, 1000, [0]);
  s.log.retransmitted(at(0), at(1000), 100);
  s.beginAck(100);
  s.cumulativeAck(at(1000), 150);
  t.true(s.endAck(150), 'the echo names the retransmission');
  t.is(s.xmitTs, 100);
  t.is(s.rtt, 50);
});

test('on RTO: the first segment outstanding is lost, the rest only if RACK.rtt + reo_wnd old (§6.3)', (t) => {
  const r = new Rack();
  r.reset(BASE);
  fill(r.log, 4, 1000, [0, 100, 150, 190]);
  r.log.markSacked(2);
  r.rtt = 20;
  r.markLostOnRto(200, 0);
  t.deepEqual(
    entries(r.log).map((e) => e[3]),
    [SegState.LOST, SegState.LOST, SegState.SACKED, 0],
  );
  t.is(r.lostNow, 2);
});

test('TLP_calc_PTO: 2·SRTT, plus max_ack_delay for one segment, 1 s without a sample, never past the RTO', (t) => {
  t.is(probeDeadline(1000, true, 50, false, Infinity), 1100);
  t.is(probeDeadline(1000, true, 50, true, Infinity), 1100 + TLP_MAX_ACK_DELAY);
  t.is(probeDeadline(1000, true, 50, true, 1250), 1250);
  t.is(probeDeadline(1000, false, 0, false, Infinity), 1000 + TLP_INITIAL_PTO);
  t.is(probeDeadline(1000, true, 2, false, Infinity), 1000 + TLP_MIN_PTO);
});

// ---------------------------------------------------------------------------------
// Two stacks over a path with a one-way delay and loss.

class Sink implements ConnectionOwner, ListenerOwner {
  chunks: Buffer[] = [];
  bytes = 0;
  conns: Connection[] = [];
  onConnectionEvents(c: Connection): void {
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) {
      if (e === ConnEvent.READABLE) {
        const d = c.read();
        this.chunks.push(d);
        this.bytes += d.length;
      }
    }
  }
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) {
      c.owner = this;
      this.conns.push(c);
      this.onConnectionEvents(c);
    }
  }
}

/** A packet sent from a (or b), in flight until `due`. */
interface InFlight {
  due: number;
  fromA: boolean;
  pkt: Buffer;
}

/**
 * a ⇄ b with a fixed one-way delay; `drop` decides per packet at send time. Virtual time
 * jumps from event to event: the next arrival or the next timer of either host.
 */
class Path {
  readonly a: SimHost;
  readonly b: SimHost;
  readonly wire: Wire;
  readonly sink = new Sink();
  readonly ca: Connection;
  private readonly queue: InFlight[] = [];
  drop: (pkt: Buffer, fromA: boolean, now: number) => boolean = () => false;
  /** Extra delay for one packet (reordering). */
  extraDelay: (pkt: Buffer, fromA: boolean) => number = () => 0;
  /** Every data segment a sent: when, and its relative sequence number. */
  readonly sentByA: { t: number; seq: number; len: number; dropped: boolean }[] = [];
  private payload = Buffer.alloc(0);
  private written = 0;

  constructor(readonly delay: number, config: Partial<TcpConfig> = {}) {
    this.a = new SimHost('10.0.0.1', { config });
    this.b = new SimHost('10.0.0.2', { config });
    this.wire = new Wire(this.a, this.b);
    this.b.tcp.listen(80, this.sink);
    this.ca = this.a.tcp.connect(this.b.addr, 80, new Sink(), 0);
    this.a.turn();
    this.run(() => this.ca.state === TcpState.ESTABLISHED && this.sink.conns.length > 0, 10_000);
  }

  get now(): number {
    return this.wire.now;
  }

  /** Queue `data` to send from a (written as the send buffer frees up). */
  write(data: Buffer): void {
    this.payload = Buffer.concat([this.payload.subarray(this.written), data]);
    this.written = 0;
    this.pump();
  }

  private pump(): void {
    if (this.written < this.payload.length) this.written += this.ca.send(this.payload, this.written);
    this.a.tcp.touch(this.ca);
    this.a.turn();
  }

  /** Take what the hosts sent into the delay line. */
  private collect(): void {
    const now = this.wire.now;
    for (const [list, fromA] of [[this.wire.ab, true], [this.wire.ba, false]] as const) {
      for (const pkt of list.splice(0)) {
        const dropped = this.drop(pkt, fromA, now);
        if (fromA) {
          const d = decode(pkt);
          if (d.len > 0) this.sentByA.push({ t: now, seq: (d.seq - this.ca.iss) >>> 0, len: d.len, dropped });
        }
        if (dropped) continue;
        const due = now + this.delay + this.extraDelay(pkt, fromA);
        let i = this.queue.length;
        while (i > 0 && this.queue[i - 1]!.due > due) i--;
        this.queue.splice(i, 0, { due, fromA, pkt });
      }
    }
  }

  /** Run until `done()` or virtual time passes `limit`. */
  run(done: () => boolean, limit: number): void {
    for (let i = 0; i < 10_000_000; i++) {
      this.collect();
      if (done()) return;
      const next = Math.min(this.queue.length > 0 ? this.queue[0]!.due : Infinity, this.a.nextDeadline(), this.b.nextDeadline());
      if (next === Infinity || next > limit) return;
      this.wire.now = Math.max(this.wire.now, next);
      const now = this.wire.now;
      // Arrivals first (both directions in one batch each), then timers, then the app.
      while (this.queue.length > 0 && this.queue[0]!.due <= now) {
        const p = this.queue.shift()!;
        (p.fromA ? this.wire.ab : this.wire.ba).push(p.pkt);
      }
      this.wire.deliver(1);
      this.a.advance(now);
      this.b.advance(now);
      this.pump();
    }
  }

  /** Run until b has received `n` bytes in all. */
  runUntilReceived(n: number, limit = 10_000_000): void {
    this.run(() => this.sink.bytes >= n, limit);
  }

  get received(): Buffer {
    return Buffer.concat(this.sink.chunks);
  }
}

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Seeded, reproducible loss decisions (mulberry32: an LCG's successive draws correlate). */
function lossy(rate: number, seed: number): () => boolean {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    z = (z ^ (z >>> 14)) >>> 0;
    return z / 2 ** 32 < rate;
  };
}

for (const rack of [true, false]) {
  test(`a lost retransmission is ${rack ? 'found by RACK and resent without an RTO' : 'left to the RTO without RACK'}`, (t) => {
    const p = new Path(1, { rack });
    t.is(p.ca.rack !== null, rack);
    const payload = pattern(120 * 1448);
    // Lose the 10th data segment and its first retransmission.
    let target = -1;
    let losses = 0;
    p.drop = (pkt, fromA) => {
      if (!fromA) return false;
      const d = decode(pkt);
      if (d.len === 0) return false;
      const seq = (d.seq - p.ca.iss) >>> 0;
      if (target < 0 && seq === 1 + 9 * 1448) target = seq;
      if (seq === target && losses < 2) {
        losses++;
        return true;
      }
      return false;
    };
    p.write(payload);
    p.runUntilReceived(payload.length);
    t.true(p.received.equals(payload));
    t.is(losses, 2);
    const copies = p.sentByA.filter((s) => s.seq === target);
    t.is(copies.length, 3, 'the original and two retransmissions');
    if (rack) {
      t.is(p.ca.stats.timeouts, 0);
      t.is(p.ca.stats.retransmits, 2, 'nothing else resent');
      t.true(copies[2]!.t - copies[1]!.t < 10, `resent ${copies[2]!.t - copies[1]!.t} ms after the lost retransmission`);
      t.is(p.ca.stats.fastRetransmits, 1, 'one recovery episode, one window reduction');
    } else {
      t.true(p.ca.stats.timeouts >= 1);
      // (The RTO was restarted by the last ACK after the first retransmission went.)
      t.true(copies[2]!.t - copies[1]!.t >= 150, `RFC 6675 alone cannot see it: the RTO does (${copies.map((c) => c.t).join(', ')})`);
    }
    t.log(`rack=${rack}: done at ${p.now} ms virtual, ${JSON.stringify(p.ca.stats)}`);
  });
}

/** A 25 ms one-way path warmed up by a transfer, so SRTT ≈ 50 ms and cwnd is open. */
function warmPath(): Path {
  const p = new Path(25);
  const warm = pattern(40 * 1448, 9);
  p.write(warm);
  p.runUntilReceived(warm.length);
  p.run(() => p.ca.sndUna === p.ca.sndNxt, p.now + 1000);
  return p;
}

test('a tail loss is repaired by a probe at 2·SRTT, not by the RTO', (t) => {
  const p = warmPath();
  const srtt = p.ca.rtt.srtt;
  t.true(srtt >= 45 && srtt <= 60, `srtt ${srtt}`);
  const before = { ...p.ca.stats };
  const base = p.sink.bytes;
  // A flight of ten segments whose last two are lost: when the ACK of the first eight
  // arrives, two are outstanding and the PTO is 2·SRTT (RFC 8985 §7.2).
  const flight = pattern(10 * 1448, 3);
  const start = (p.ca.sndNxt - p.ca.iss) >>> 0;
  p.drop = (pkt, fromA) => {
    if (!fromA) return false;
    const d = decode(pkt);
    const seq = (d.seq - p.ca.iss) >>> 0;
    return d.len > 0 && seq >= start + 8 * 1448 && !p.sentByA.some((s) => s.seq === seq);
  };
  const t0 = p.now;
  p.write(flight);
  p.runUntilReceived(base + flight.length, t0 + 5000);
  t.true(p.received.subarray(base).equals(flight));
  const probe = p.sentByA.find((s) => s.t > t0);
  t.truthy(probe);
  // The ACK of the first eight arrives at t0 + 50; the probe goes 2·SRTT later.
  const lastAck = t0 + 2 * p.delay;
  t.true(Math.abs(probe!.t - (lastAck + 2 * srtt)) <= 5, `probe at +${probe!.t - t0} ms; 2·SRTT = ${2 * srtt}`);
  t.is(p.ca.stats.tlpProbes - before.tlpProbes, 1);
  t.is(p.ca.stats.timeouts - before.timeouts, 0);
  t.is(p.ca.stats.retransmits - before.retransmits, 2, 'the probe, then the other lost segment by RACK');
  const rto = Math.max(200, srtt);
  t.true(p.now - t0 < 2 * p.delay + rto, `all delivered ${p.now - t0} ms after sending, before an RTO could even fire`);
});

test('a single lost tail segment: with max_ack_delay the probe comes when the RTO would, and replaces it', (t) => {
  const p = warmPath();
  const before = { ...p.ca.stats };
  const cwndBefore = p.ca.cc.cwnd;
  const base = p.sink.bytes;
  const flight = pattern(11 * 1448, 4);
  const start = (p.ca.sndNxt - p.ca.iss) >>> 0;
  let dropped = false;
  p.drop = (pkt, fromA) => {
    const d = decode(pkt);
    if (!fromA || d.len === 0 || dropped || ((d.seq - p.ca.iss) >>> 0) !== start + 10 * 1448) return false;
    dropped = true;
    return true;
  };
  const rto = p.ca.rtt.currentRto();
  p.write(flight);
  const t0 = p.now;
  p.runUntilReceived(base + flight.length, p.now + 5000);
  p.run(() => p.ca.sndUna === p.ca.sndNxt, p.now + 5000);
  t.true(p.received.subarray(base).equals(flight));
  // One segment is outstanding once the ACK of the other ten arrives (t0 + 50): the PTO
  // is 2·SRTT + max_ack_delay, which the RTO caps (RFC 8985 §7.2).
  const probe = p.sentByA.filter((s) => s.t > t0);
  t.is(probe.length, 1);
  t.is(probe[0]!.t, t0 + 2 * p.delay + rto);
  t.is(p.ca.stats.tlpProbes - before.tlpProbes, 1);
  t.is(p.ca.stats.timeouts - before.timeouts, 0);
  t.is(p.ca.stats.retransmits - before.retransmits, 1);
  // RFC 8985 §7.4: the probe repaired a loss, so the window is reduced as recovery would,
  // but not collapsed to one segment as after a timeout.
  t.true(p.ca.cc.cwnd < cwndBefore && p.ca.cc.cwnd > p.ca.effMss, `cwnd ${cwndBefore} → ${p.ca.cc.cwnd}`);
});

test('reordering within reo_wnd is not loss; RACK notes it and keeps the window open', (t) => {
  // 10 ms each way: min_RTT 20 ms, so reo_wnd is 5 ms.
  const p = new Path(10);
  const warm = pattern(20 * 1448, 2);
  p.write(warm);
  p.runUntilReceived(warm.length);
  p.run(() => p.ca.sndUna === p.ca.sndNxt, p.now + 1000);
  const rack = p.ca.rack!;
  t.is(rack.minRtt, 20);
  t.false(rack.reorderingSeen);
  const before = { ...p.ca.stats };
  const base = p.sink.bytes;
  // Four segments; the third arrives 3 ms late, after the fourth.
  const start = (p.ca.sndNxt - p.ca.iss) >>> 0;
  p.extraDelay = (pkt, fromA) => (fromA && ((decode(pkt).seq - p.ca.iss) >>> 0) === start + 2 * 1448 ? 3 : 0);
  const flight = pattern(4 * 1448, 6);
  p.write(flight);
  p.runUntilReceived(base + flight.length, p.now + 1000);
  p.run(() => p.ca.sndUna === p.ca.sndNxt, p.now + 1000);
  t.true(p.received.subarray(base).equals(flight));
  t.is(p.ca.stats.retransmits - before.retransmits, 0, 'no spurious retransmission');
  t.is(p.ca.stats.rackLost - before.rackLost, 0);
  t.true(rack.reorderingSeen, 'delivered below RACK.fack without a retransmission');
  t.is(rack.reoWnd(true, p.ca.rtt.srtt), 5, 'from now on even in recovery');
});

test('without SACK there is no RACK and no probe: NewReno and the RTO as before', (t) => {
  const p = new Path(1, { sack: false });
  t.is(p.ca.rack, null);
  const payload = pattern(30 * 1448);
  let n = 0;
  p.drop = (pkt, fromA) => fromA && decode(pkt).len > 0 && ++n === 30;
  p.write(payload);
  p.runUntilReceived(payload.length);
  t.true(p.received.equals(payload));
  t.is(p.ca.stats.tlpProbes, 0);
  t.is(p.ca.stats.timeouts, 1, 'the tail loss waits for the RTO');
});

/** 2 MB through random loss both ways over a 1 ms one-way delay; with and without RACK-TLP. */
function lossyTransfer(rate: number, rack: boolean): { ms: number; stats: Connection['stats']; intact: boolean } {
  const p = new Path(1, { rack });
  const payload = pattern(2_000_000, 5);
  const lose = lossy(rate, 7);
  p.drop = () => lose();
  p.write(payload);
  p.runUntilReceived(payload.length, Infinity);
  return { ms: p.now, stats: { ...p.ca.stats }, intact: p.received.equals(payload) };
}

// Seeded: with RACK-TLP 5% takes about half the time with a fifth of the timeouts, and 20%
// (where each try of a segment or its ACK fails one time in three) half the timeouts
// and a few hundredth of the time: without RACK-TLP, lost retransmissions and tail
// losses each cost an RTO, and the timestamp echoes of those old transmissions inflated
// the RTO into minutes.
for (const [rate, maxTimeouts, timeoutRatio, timeRatio] of [
  [0.05, 8, 1 / 3, 0.6],
  [0.2, 160, 0.6, 0.01],
] as const) {
  test(`${rate * 100}% random loss both ways, 2 MB: RACK-TLP needs far fewer timeouts and far less time`, (t) => {
    const withRack = lossyTransfer(rate, true);
    const without = lossyTransfer(rate, false);
    t.log(`rack: ${withRack.ms.toFixed(0)} ms virtual, ${withRack.stats.timeouts} timeouts, ${withRack.stats.retransmits} retransmits, ${withRack.stats.tlpProbes} probes, ${withRack.stats.rackLost} RACK losses`);
    t.log(`without: ${without.ms.toFixed(0)} ms virtual, ${without.stats.timeouts} timeouts, ${without.stats.retransmits} retransmits`);
    t.true(withRack.intact);
    t.true(without.intact);
    t.true(withRack.stats.timeouts <= maxTimeouts, `${withRack.stats.timeouts} timeouts`);
    t.true(withRack.stats.timeouts <= without.stats.timeouts * timeoutRatio, 'fewer timeouts');
    t.true(withRack.ms <= without.ms * timeRatio, 'less time');
  });
}
