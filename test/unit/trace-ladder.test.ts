/**
 * Ladder diagrams from real traces: two SimHosts over a Wire, a LadderTracer on each,
 * driven through the textbook cases (handshake, data, four-way and merged three-way
 * teardown, simultaneous open and close, loss and retransmission, zero window, dup
 * ACKs). Each side's inferred peer state is checked against the other side's real state.
 */
import test, { ExecutionContext } from 'ava';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { TcpState } from '../../src/tcp/state';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { ConnectionLadder, LadderSegment, LadderTracer } from '../../src/trace/ladder';
import { renderLadderText } from '../../src/trace/ladder-text';
import { combineTracers } from '../../src/trace/fanout';
import { renderLadderSvg } from '../../src/trace/svg';
import { TcpFlag } from '../../src/wire/tcp';
import { buildSegment, decode } from '../helpers/segments';
import { SimHost, Wire } from '../helpers/sim-host';

class App implements ConnectionOwner {
  data: Buffer[] = [];
  autoRead = true;
  onEnd: ((c: Connection) => void) | null = null;
  onConnectionEvents(c: Connection): void {
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) {
      if (e === ConnEvent.READABLE && this.autoRead) this.data.push(c.read());
      if (e === ConnEvent.END) this.onEnd?.(c);
    }
  }
}

class Acceptor implements ListenerOwner {
  accepted: { conn: Connection; app: App }[] = [];
  makeApp: () => App = () => new App();
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) {
      const app = this.makeApp();
      c.owner = app;
      this.accepted.push({ conn: c, app });
      app.onConnectionEvents(c);
    }
  }
}

interface Pair {
  a: SimHost;
  b: SimHost;
  wire: Wire;
  ta: LadderTracer;
  tb: LadderTracer;
  linesA: string[];
  linesB: string[];
  at(t: number): void;
  act(host: SimHost, conn: Connection, fn: () => void): void;
}

/** Client a (10.0.0.1) and server b (10.0.0.2), each with a live ladder tracer. */
function pair(bConfig: ConstructorParameters<typeof SimHost>[1] = {}): Pair {
  const a = new SimHost('10.0.0.1', { secret: 1 });
  const b = new SimHost('10.0.0.2', { secret: 2, ...bConfig });
  const wire = new Wire(a, b);
  const linesA: string[] = [];
  const linesB: string[] = [];
  const ta = new LadderTracer({ localAddr: a.addr, onLine: (l) => linesA.push(l), autoFlush: false });
  const tb = new LadderTracer({ localAddr: b.addr, onLine: (l) => linesB.push(l), autoFlush: false });
  a.tcp.tracer = ta;
  b.tcp.tracer = tb;
  return {
    a,
    b,
    wire,
    ta,
    tb,
    linesA,
    linesB,
    at(t) {
      wire.now = t;
      a.advance(t);
      b.advance(t);
    },
    act(host, conn, fn) {
      fn();
      host.tcp.touch(conn);
      host.turn();
    },
  };
}

/** Open a connection a → b:80 and return both ends. */
function open(p: Pair, acc = new Acceptor()): { ca: Connection; cb: Connection; appA: App; acc: Acceptor } {
  p.b.tcp.listen(80, acc);
  const appA = new App();
  const ca = p.a.tcp.connect(p.b.addr, 80, appA, p.wire.now);
  p.a.turn();
  p.wire.deliver();
  return { ca, cb: acc.accepted[0]!.conn, appA, acc };
}

const segs = (l: ConnectionLadder): LadderSegment[] => l.events.filter((e): e is LadderSegment => e.kind === 'segment');
const labels = (l: ConnectionLadder): string[] => segs(l).flatMap((s) => (s.label === null ? [] : [s.label]));
const only = (t: LadderTracer): ConnectionLadder => {
  const r = t.recent();
  if (r.length !== 1) throw new Error(`expected one connection, got ${r.length}`);
  return r[0]!;
};

/**
 * Every segment one side saw, the other side saw too (nothing was lost): the inferred
 * state of the peer after it must equal the peer's real state after it.
 */
function crossCheck(t: ExecutionContext, la: ConnectionLadder, lb: ConnectionLadder, opts: { bareAcksRace?: boolean } = {}): void {
  const sa = segs(la);
  const sb = segs(lb);
  t.is(sa.length, sb.length, 'both sides saw the same segments');
  // A bare ACK has no sequence space, so nothing tells its sender whether it reached the
  // peer before or after the peer's own FIN left: where they race, either answer is fair.
  const skip = (s: LadderSegment): boolean => (opts.bareAcksRace ?? false) && s.len === 0 && (s.flags & (TcpFlag.SYN | TcpFlag.FIN)) === 0;
  for (let i = 0; i < sa.length; i++) {
    const x = sa[i]!;
    const y = sb.find((s) => s.seq === x.seq && s.ack === x.ack && s.flags === x.flags && s.len === x.len && s.from !== x.from)!;
    t.truthy(y, `segment ${i} seen by both`);
    const sender = x.from === 'local' ? x : y;
    if (skip(sender)) continue;
    t.is(x.remoteState, y.localState, `a's inferred state of b after segment ${i} (${x.label ?? x.flags})`);
    t.is(y.remoteState, x.localState, `b's inferred state of a after segment ${i} (${y.label ?? y.flags})`);
  }
}

test('handshake, data and the four-way teardown: labels, relative numbers, states of both sides', (t) => {
  const p = pair();
  const { ca, cb, acc } = open(p);
  p.at(5);
  p.act(p.a, ca, () => ca.send(Buffer.from('GET / HTTP/1.0\r\n\r\n')));
  p.wire.deliver();
  p.at(6);
  p.act(p.b, cb, () => cb.send(Buffer.from('HTTP/1.0 200 OK\r\n\r\nhello')));
  p.wire.deliver();
  // The client closes; the server acknowledges after the delayed-ACK time (40 ms) and
  // closes later still: four-way.
  p.at(10);
  p.act(p.a, ca, () => ca.shutdown(10));
  p.wire.deliver();
  t.is(cb.state, TcpState.CLOSE_WAIT);
  p.at(50);
  p.wire.deliver();
  p.at(70);
  p.act(p.b, cb, () => cb.shutdown(70));
  p.wire.deliver();
  p.ta.flush();
  p.tb.flush();

  const lb = only(p.tb);
  const la = only(p.ta);
  t.deepEqual(labels(lb), ['handshake 1/3', 'handshake 2/3', 'handshake 3/3', 'teardown 1/4', 'teardown 2/4', 'teardown 3/4', 'teardown 4/4']);
  t.deepEqual(labels(la), labels(lb));
  t.is(lb.teardown, 'four-way');
  t.is(lb.left, 'remote', 'the server draws the client on the left');
  t.is(la.left, 'local', 'the client draws itself on the left');
  t.is(la.openedBy, 'local');
  t.is(lb.openedBy, 'remote');

  // ISNs: the connections' own.
  t.is(lb.localIsn, cb.iss);
  t.is(lb.remoteIsn, ca.iss);
  t.is(la.localIsn, ca.iss);
  t.is(la.remoteIsn, cb.iss);
  // Handshake: SYN seq=0; SYN,ACK seq=0 ack=1 (= client ISN + 1); ACK seq=1 ack=1 (= server ISN + 1).
  const [syn, synAck, ack] = segs(lb) as [LadderSegment, LadderSegment, LadderSegment];
  t.like(syn, { from: 'remote', relSeq: 0, relAck: null, seq: ca.iss, localState: TcpState.SYN_RECEIVED, remoteState: TcpState.SYN_SENT, mss: 1460 });
  t.like(synAck, { from: 'local', relSeq: 0, relAck: 1, seq: cb.iss, ack: (ca.iss + 1) >>> 0, localState: TcpState.SYN_RECEIVED, remoteState: TcpState.ESTABLISHED });
  t.like(ack, { from: 'remote', relSeq: 1, relAck: 1, ack: (cb.iss + 1) >>> 0, localState: TcpState.ESTABLISHED, remoteState: TcpState.ESTABLISHED });
  // Data: relative numbers count bytes.
  const data = segs(lb).filter((s) => s.len > 0);
  t.like(data[0], { from: 'remote', relSeq: 1, relAck: 1, len: 18 });
  t.like(data[1], { from: 'local', relSeq: 1, relAck: 19, len: 24 });
  // Teardown states (RFC 9293 figure 12): the client's FIN puts us in CLOSE-WAIT, ...
  const tear = segs(lb).filter((s) => s.label?.startsWith('teardown'));
  t.deepEqual(
    tear.map((s) => [s.label, s.from, s.remoteState, s.localState]),
    [
      ['teardown 1/4', 'remote', TcpState.FIN_WAIT_1, TcpState.CLOSE_WAIT],
      ['teardown 2/4', 'local', TcpState.FIN_WAIT_2, TcpState.CLOSE_WAIT],
      ['teardown 3/4', 'local', TcpState.TIME_WAIT, TcpState.LAST_ACK],
      ['teardown 4/4', 'remote', TcpState.TIME_WAIT, TcpState.CLOSED],
    ],
  );
  t.like(tear[0], { relSeq: 19, relAck: 25 });
  t.like(tear[3], { relSeq: 20, relAck: 26 });
  crossCheck(t, la, lb);
  t.true(lb.closed);

  // The text diagram: header with the 4-tuple and ISNs, arrows both ways, one line per segment.
  const text = renderLadderText(lb);
  t.regex(text, /10\.0\.0\.1:\d+ \(client\) ⇄ 10\.0\.0\.2:80 \(server, tuntcp\)/);
  t.true(text.includes(`ISN ${cb.iss}`));
  t.true(text.includes(`ISN ${ca.iss}`));
  t.regex(text, /SYN-SENT +──SYN seq=0 len=0 win=65535 ─+▶ SYN-RECEIVED +handshake 1\/3/);
  t.regex(text, /ESTABLISHED +◀──SYN,ACK seq=0 ack=1 len=0 win=65535 ─+ SYN-RECEIVED +handshake 2\/3/);
  t.true(text.includes(`[seq=${cb.iss} ack=${(ca.iss + 1) >>> 0}]`));
  t.is(text.split('\n').filter((l) => l.includes('──')).length, segs(lb).length);

  // Live lines: a header, then the same segments in the same order, with the state after them.
  t.regex(p.linesB[0]!, /^#1 TCP 10\.0\.0\.1:\d+ \(client\) ⇄ 10\.0\.0\.2:80 \(server, tuntcp\)$/);
  const live = p.linesB.filter((l) => l.includes('──'));
  t.is(live.length, segs(lb).length);
  t.regex(live[0]!, /^#1 .*SYN-SENT +──SYN seq=0 .*▶ SYN-RECEIVED +handshake 1\/3/);
  t.regex(live.find((l) => l.includes('FIN'))!, /teardown 1(?!\/)/, 'live: which teardown it is shows only later');
  t.true(p.linesB.at(-1)!.startsWith(`#1 done: ${lb.remote} ⇄ 10.0.0.2:80, four-way teardown, ${segs(lb).length} segments, 0 retransmissions`));
  t.is(acc.accepted.length, 1);
});

test('the merged three-way teardown: "teardown 2/3: FIN+ACK merged"', (t) => {
  const p = pair();
  const acc = new Acceptor();
  acc.makeApp = () => {
    const app = new App();
    app.onEnd = (c) => c.shutdown(p.wire.now); // close on EOF: the ACK of the FIN rides on our FIN
    return app;
  };
  const { ca } = open(p, acc);
  p.at(3);
  p.act(p.a, ca, () => ca.shutdown(3));
  p.wire.deliver();
  p.ta.flush();
  p.tb.flush();
  const lb = only(p.tb);
  const la = only(p.ta);
  t.deepEqual(labels(lb), ['handshake 1/3', 'handshake 2/3', 'handshake 3/3', 'teardown 1/3', 'teardown 2/3: FIN+ACK merged', 'teardown 3/3']);
  t.deepEqual(labels(la), labels(lb));
  t.is(lb.teardown, 'three-way');
  t.is(la.teardown, 'three-way');
  const merged = segs(lb).find((s) => s.label === 'teardown 2/3: FIN+ACK merged')!;
  t.is(merged.flags, TcpFlag.FIN | TcpFlag.ACK);
  t.like(merged, { from: 'local', relSeq: 1, relAck: 2, localState: TcpState.LAST_ACK, remoteState: TcpState.TIME_WAIT });
  crossCheck(t, la, lb);
  t.true(renderLadderText(lb).includes('teardown 2/3: FIN+ACK merged'));
  t.true(renderLadderText(lb).includes('closed by: three-way teardown (FIN+ACK merged)'));
  t.true(p.linesB.some((l) => l.includes('teardown 2/3: FIN+ACK merged')));
});

test('simultaneous close: both FINs cross, CLOSING on both sides', (t) => {
  const p = pair();
  const { ca, cb } = open(p);
  p.at(2);
  ca.shutdown(2);
  cb.shutdown(2);
  p.a.tcp.touch(ca);
  p.b.tcp.touch(cb);
  p.a.turn();
  p.b.turn();
  p.wire.deliver();
  const lb = only(p.tb);
  const la = only(p.ta);
  t.is(lb.teardown, 'simultaneous');
  t.is(la.teardown, 'simultaneous');
  const tear = labels(lb).filter((s) => s.startsWith('simultaneous close'));
  t.deepEqual(tear, ['simultaneous close 1/4', 'simultaneous close 2/4', 'simultaneous close 3/4', 'simultaneous close 4/4']);
  const fins = segs(lb).filter((s) => s.flags & TcpFlag.FIN);
  t.is(fins.length, 2);
  // After both FINs, we are CLOSING (the other FIN crossed ours).
  t.is(fins[1]!.localState, TcpState.CLOSING);
  t.is(segs(lb).at(-1)!.localState, TcpState.TIME_WAIT);
  t.true(renderLadderText(lb).includes('closed by: simultaneous close'));
  crossCheck(t, la, lb);
});

test('simultaneous open: both SYNs cross', (t) => {
  const p = pair();
  const appA = new App();
  const appB = new App();
  const ca = p.a.tcp.connect(p.b.addr, 6000, appA, 0, 5000);
  const cb = p.b.tcp.connect(p.a.addr, 5000, appB, 0, 6000);
  p.a.turn();
  p.b.turn();
  p.wire.deliver();
  t.is(ca.state, TcpState.ESTABLISHED);
  t.is(cb.state, TcpState.ESTABLISHED);
  const la = only(p.ta);
  const ls = labels(la);
  t.is(la.openedBy, 'both');
  t.deepEqual(ls.slice(0, 2), ['simultaneous open 1/4', 'simultaneous open 2/4']);
  t.true(ls.includes('simultaneous open 3/4'));
  t.true(ls.includes('simultaneous open 4/4'));
  t.false(ls.some((l) => l.startsWith('handshake')));
  const synAcks = segs(la).filter((s) => (s.flags & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK));
  t.true(synAcks.every((s) => s.relAck === 1), 'every SYN,ACK acknowledges the other ISN + 1');
  crossCheck(t, la, only(p.tb));
});

test('a lost data segment: the sender marks its retransmission and the timer; a lost ACK: the receiver infers one', (t) => {
  const p = pair();
  const { ca } = open(p);
  let dropped = 0;
  p.wire.drop = (pkt, fromA) => fromA && decode(pkt).len > 0 && dropped++ === 0;
  p.act(p.a, ca, () => ca.send(Buffer.from('lost then found')));
  p.wire.deliver();
  p.wire.step(); // the RTO fires, the data goes again
  p.ta.flush();
  const la = only(p.ta);
  const data = segs(la).filter((s) => s.len > 0);
  t.is(data.length, 2);
  t.false(data[0]!.retransmit);
  t.true(data[1]!.retransmit);
  t.deepEqual(data[1]!.marks, ['retransmission']);
  t.is(data[1]!.relSeq, 1);
  t.true(la.events.some((e) => e.kind === 'timer' && e.timer === 'retransmit'));
  t.is(la.retransmissions, 1);
  t.true(renderLadderText(la).includes('retransmit timer fired'));
  t.regex(p.linesA.join('\n'), /──PSH,ACK seq=1 ack=1 len=15 .*retransmission/);

  // Now lose the receiver's ACK: the sender repeats data the receiver already has.
  let acks = 0;
  p.wire.drop = (pkt, fromA) => !fromA && decode(pkt).flags === 'ACK' && acks++ === 0;
  p.act(p.a, ca, () => ca.send(Buffer.from('second')));
  p.wire.deliver();
  p.wire.step(); // delayed ACK from b (dropped)
  p.wire.step(); // RTO at a: the repeat reaches b
  const lb = only(p.tb);
  const repeat = segs(lb).filter((s) => s.from === 'remote' && s.len === 6);
  t.is(repeat.length, 2);
  t.true(repeat[1]!.retransmit, 'inferred from sequence space already seen');
  t.deepEqual(repeat[1]!.marks, ['retransmission']);
  // SVG: the retransmission is drawn dashed and red.
  t.true(renderLadderSvg(la).includes('stroke-dasharray="6 3"'));
});

test('duplicate ACKs after a loss in a burst are marked on both sides', (t) => {
  const p = pair();
  const { ca } = open(p);
  let n = 0;
  p.wire.drop = (pkt, fromA) => fromA && decode(pkt).len > 0 && n++ === 1;
  p.act(p.a, ca, () => ca.send(Buffer.alloc(6 * 1460, 1)));
  p.wire.deliver();
  const dupsB = segs(only(p.tb)).filter((s) => s.marks.some((m) => m.startsWith('dup ACK')));
  const dupsA = segs(only(p.ta)).filter((s) => s.marks.some((m) => m.startsWith('dup ACK')));
  t.true(dupsB.length >= 3, `receiver sent ${dupsB.length} dup ACKs`);
  t.deepEqual(
    dupsB.slice(0, 3).map((s) => s.marks),
    [['dup ACK #1'], ['dup ACK #2'], ['dup ACK #3']],
  );
  t.true(dupsB.every((s) => s.from === 'local'));
  t.deepEqual(
    dupsA.map((s) => s.marks),
    dupsB.map((s) => s.marks),
  );
  // Out of order arrivals after the hole are flagged at the receiver.
  t.true(segs(only(p.tb)).some((s) => s.marks.includes('out of order (gap before it)')));
  // The fast retransmission fills the hole.
  const lost = segs(only(p.ta)).filter((s) => s.len > 0)[1]!;
  t.true(segs(only(p.ta)).some((s) => s.retransmit && s.relSeq === lost.relSeq && s.marks.includes('retransmission')));
});

test('zero window and window probes are marked', (t) => {
  const p = pair({ config: { recvBufferSize: 8192 } });
  const acc = new Acceptor();
  acc.makeApp = () => Object.assign(new App(), { autoRead: false });
  const { ca } = open(p, acc);
  p.act(p.a, ca, () => ca.send(Buffer.alloc(50_000, 7)));
  p.wire.deliver();
  for (let i = 0; i < 4; i++) p.wire.step();
  const lb = only(p.tb);
  const la = only(p.ta);
  t.true(segs(lb).some((s) => s.from === 'local' && s.windowBytes === 0 && s.marks.includes('zero window')));
  const probesA = segs(la).filter((s) => s.marks.includes('window probe'));
  const probesB = segs(lb).filter((s) => s.marks.includes('window probe'));
  t.true(probesA.length >= 2, `${probesA.length} probes`);
  t.is(probesB.length, probesA.length);
  t.true(probesA.every((s) => s.from === 'local' && s.len === 1));
  // Reading reopens the window: a window update.
  const cb = acc.accepted[0]!.conn;
  p.act(p.b, cb, () => void cb.read());
  p.wire.deliver();
  t.true(segs(lb).some((s) => s.marks.includes('window update')));
  crossCheck(t, la, lb);
});

test('a bulk transfer both ways and a close that races data: the inferred states still match', (t) => {
  const p = pair();
  const { ca, cb } = open(p);
  for (let round = 0; round < 3; round++) {
    p.act(p.a, ca, () => ca.send(Buffer.alloc(9000, round)));
    p.act(p.b, cb, () => cb.send(Buffer.alloc(5000, round)));
    p.wire.deliver();
    p.at(p.wire.now + 50);
    p.wire.deliver();
  }
  // b sends its last data and closes while a's final data is still in flight.
  p.act(p.a, ca, () => ca.send(Buffer.alloc(3000, 9)));
  p.act(p.b, cb, () => {
    cb.send(Buffer.alloc(100, 9));
    cb.shutdown(p.wire.now);
  });
  p.wire.deliver();
  p.at(p.wire.now + 50);
  p.act(p.a, ca, () => ca.shutdown(p.wire.now));
  p.wire.settle(p.wire.now + 1000);
  const la = only(p.ta);
  const lb = only(p.tb);
  t.is(la.teardown, 'four-way');
  // a's data in flight when b's FIN left reached b in FIN-WAIT-1, and the ladder says so.
  const fin = segs(la).find((s) => s.from === 'remote' && s.flags & TcpFlag.FIN)!;
  const crossing = segs(la).filter((s) => s.from === 'local' && s.len > 0 && s.t <= fin.t && segs(la).indexOf(s) < segs(la).indexOf(fin) && (s.seq - fin.ack) >>> 0 < 0x8000_0000);
  t.true(crossing.length > 0);
  t.true(crossing.every((s) => s.remoteState === TcpState.FIN_WAIT_1));
  crossCheck(t, la, lb, { bareAcksRace: true });
});

test('a SYN to a closed port: "reset: connection refused", with no connection behind it', (t) => {
  const b = new SimHost('10.0.0.2');
  const lines: string[] = [];
  const tr = new LadderTracer({ localAddr: b.addr, onLine: (l) => lines.push(l), autoFlush: false });
  b.tcp.tracer = tr;
  b.link.inject(buildSegment({ src: '10.0.0.9', dst: '10.0.0.2', sport: 40000, dport: 81, seq: 1000, flags: TcpFlag.SYN }));
  tr.flush();
  const l = only(tr);
  t.is(l.local, '10.0.0.2:81');
  t.is(l.remote, '10.0.0.9:40000');
  t.deepEqual(labels(l), ['handshake 1/3', 'reset: connection refused']);
  const [, rst] = segs(l) as [LadderSegment, LadderSegment];
  t.like(rst, { from: 'local', relAck: 1, localState: TcpState.CLOSED, remoteState: TcpState.CLOSED });
  t.is(segs(l)[0]!.localState, TcpState.CLOSED);
  t.true(l.closed);
  t.is(l.teardown, 'reset');
  t.regex(lines.join('\n'), /◀──RST,ACK seq=0 ack=1 len=0 win=0 .*reset: connection refused/);
});

test('history is bounded, and so are the events of one connection', (t) => {
  const p = pair();
  p.b.tcp.listen(80, new Acceptor());
  const small = new LadderTracer({ localAddr: p.b.addr, maxHistory: 4, maxEvents: 8 });
  p.b.tcp.tracer = small;
  for (let i = 0; i < 6; i++) {
    const c = p.a.tcp.connect(p.b.addr, 80, new App(), p.wire.now);
    p.a.turn();
    p.wire.deliver();
    p.act(p.a, c, () => c.send(Buffer.alloc(20_000, i)));
    p.wire.deliver();
  }
  const recent = small.recent();
  t.is(recent.length, 4);
  t.deepEqual(
    recent.map((r) => r.id),
    [3, 4, 5, 6],
  );
  const last = recent[3]!;
  t.is(last.events.length, 8);
  t.true(last.omitted > 0);
  t.true(last.segments > last.events.filter((e) => e.kind === 'segment').length);
  t.deepEqual(labels(last).slice(0, 3), ['handshake 1/3', 'handshake 2/3', 'handshake 3/3'], 'the head is kept');
  t.true(renderLadderText(last).includes(`⋮ ${last.omitted} events omitted`));
  t.true(renderLadderSvg(last).includes(`${last.omitted} events omitted`));
});

test('a tracer installed mid-connection picks up ISNs and states from the connection', (t) => {
  const p = pair();
  p.b.tcp.tracer = null;
  p.a.tcp.tracer = null;
  const { ca, cb } = open(p);
  const tr = new LadderTracer({ localAddr: p.b.addr });
  p.b.tcp.tracer = tr;
  p.act(p.a, ca, () => ca.send(Buffer.from('hi')));
  p.wire.deliver();
  const l = only(tr);
  t.is(l.localIsn, cb.iss);
  t.is(l.remoteIsn, ca.iss);
  t.is(l.left, 'remote');
  t.like(segs(l)[0], { relSeq: 1, relAck: 1, len: 2, remoteState: TcpState.ESTABLISHED, localState: TcpState.ESTABLISHED });
});

/** A strict enough XML well-formedness check: balanced tags, quoted attributes, no stray '<' or '&'. */
function checkXml(xml: string): { tags: Map<string, number>; text: string[] } {
  const tags = new Map<string, number>();
  const text: string[] = [];
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*(?:&(?:amp|lt|gt|quot|#39);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(xml)) !== null) {
    at = re.lastIndex;
    if (m[5] !== undefined) {
      if (/&(?!(?:amp|lt|gt|quot|#39);)/.test(m[5])) throw new Error(`bad entity in ${m[5]}`);
      text.push(m[5].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&'));
      continue;
    }
    const [, close, name, , selfClose] = m as unknown as [string, string, string, string, string];
    if (close === '/') {
      if (stack.pop() !== name) throw new Error(`unbalanced </${name}>`);
      continue;
    }
    tags.set(name, (tags.get(name) ?? 0) + 1);
    if (selfClose !== '/') stack.push(name);
  }
  if (at !== xml.length) throw new Error(`not well-formed at ${at}: ${xml.slice(at, at + 40)}`);
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
  return { tags, text };
}

test('the SVG is self-contained and well-formed, with lifelines, arrows, state boxes and labels', (t) => {
  const p = pair();
  const acc = new Acceptor();
  acc.makeApp = () => {
    const app = new App();
    app.onEnd = (c) => c.shutdown(p.wire.now);
    return app;
  };
  const { ca } = open(p, acc);
  p.act(p.a, ca, () => ca.send(Buffer.from('<x & "y">')));
  p.wire.deliver();
  p.at(1);
  p.act(p.a, ca, () => ca.shutdown(1));
  p.wire.deliver();
  const l = only(p.tb);
  const svg = renderLadderSvg(l, { title: 'conn <1> & "more"' });
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" '));
  t.true(svg.endsWith('</svg>'));
  const { tags, text } = checkXml(svg);
  t.is(tags.get('svg'), 1);
  t.is(tags.get('polygon'), segs(l).length, 'one arrowhead per segment');
  t.true((tags.get('line') ?? 0) >= segs(l).length + 2, 'two lifelines and one line per segment');
  t.true((tags.get('rect') ?? 0) >= 6, 'state boxes');
  for (const forbidden of ['script', 'image', 'a', 'style', 'foreignObject', 'use']) t.false(tags.has(forbidden), forbidden);
  t.false(/href|url\(|@import|\bid="/i.test(svg), 'no links, no external references, no ids');
  const all = text.join('\n');
  for (const label of ['handshake 1/3', 'handshake 2/3', 'handshake 3/3', 'teardown 1/3', 'teardown 2/3: FIN+ACK merged', 'teardown 3/3']) {
    t.true(all.includes(label), label);
  }
  t.true(all.includes('conn <1> & "more"'), 'the title is escaped and survives');
  t.true(all.includes('SYN-RECEIVED'));
  t.true(all.includes('TIME-WAIT'));
  t.true(all.includes(l.local) && all.includes(l.remote));
});

test('combineTracers: several consumers of the one stream; none left means no tracer at all', (t) => {
  t.is(combineTracers(null, undefined), null);
  const one = new LadderTracer();
  t.is(combineTracers(null, one), one);
  const p = pair();
  const x = new LadderTracer({ localAddr: p.b.addr });
  const y = new LadderTracer({ localAddr: p.b.addr });
  p.b.tcp.tracer = combineTracers(x, y);
  const { ca } = open(p);
  p.act(p.a, ca, () => ca.shutdown(0));
  p.wire.deliver();
  t.deepEqual(JSON.parse(JSON.stringify(only(x))), JSON.parse(JSON.stringify(only(y))));
  t.deepEqual(labels(only(x)).slice(0, 3), ['handshake 1/3', 'handshake 2/3', 'handshake 3/3']);
});
