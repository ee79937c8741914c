/**
 * White-box tests of the connection state machine: exact segments at virtual times,
 * from a crafted peer ("these segments, then nothing more"), and two-host pairs for the
 * symmetric cases (simultaneous open and close).
 */
import test, { ExecutionContext } from 'ava';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { TcpState } from '../../src/tcp/state';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { internetChecksum } from '../../src/wire/checksum';
import { TcpFlag, finishTcpChecksum } from '../../src/wire/tcp';
import { Decoded, buildSegment, decode } from '../helpers/segments';
import { SimHost, Wire } from '../helpers/sim-host';

const { SYN, ACK, FIN, RST, PSH } = TcpFlag;
const PEER = '10.0.0.9';
const HOST = '10.0.0.2';

class Recorder implements ConnectionOwner {
  events: string[] = [];
  data: Buffer[] = [];
  error: string | null = null;
  onEvent: ((e: number, c: Connection) => void) | null = null;
  constructor(public autoRead = true) {}
  onConnectionEvents(c: Connection): void {
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) {
      this.events.push(Object.entries(ConnEvent).find(([, v]) => v === e)![0]);
      if (e === ConnEvent.READABLE && this.autoRead) this.data.push(c.read());
      if (e === ConnEvent.ERROR) this.error = c.error;
      this.onEvent?.(e, c);
    }
  }
  get text(): string {
    return Buffer.concat(this.data).toString();
  }
}

class Acceptor implements ListenerOwner {
  accepted: { conn: Connection; rec: Recorder }[] = [];
  makeRecorder: () => Recorder = () => new Recorder();
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) {
      const rec = this.makeRecorder();
      c.owner = rec;
      this.accepted.push({ conn: c, rec });
      rec.onConnectionEvents(c);
    }
  }
}

/** A host under test plus a crafted peer that sends exact segments and reads replies. */
class Harness {
  readonly host = new SimHost(HOST);
  readonly acceptor = new Acceptor();
  constructor(port = 80) {
    if (port > 0) this.host.tcp.listen(port, this.acceptor);
  }
  send(s: { seq: number; ack?: number; flags: number; win?: number; payload?: string | Buffer; mss?: number; wscale?: number; sport?: number; dport?: number }): void {
    const payload = typeof s.payload === 'string' ? Buffer.from(s.payload) : s.payload;
    this.host.link.inject(buildSegment({ src: PEER, dst: HOST, sport: s.sport ?? 40000, dport: s.dport ?? 80, seq: s.seq, ack: s.ack, flags: s.flags, win: s.win, payload, mss: s.mss, wscale: s.wscale }));
  }
  /** Segments sent since the last call. */
  recv(): Decoded[] {
    return this.host.link.take().map(decode);
  }
  at(t: number): void {
    this.host.advance(t);
  }
}

function expectOne(t: ExecutionContext, segs: Decoded[], flags: string, fields: Partial<Decoded> = {}): Decoded {
  t.is(segs.length, 1, `expected exactly one segment, got ${segs.map((s) => s.flags).join(' | ')}`);
  const s = segs[0]!;
  t.is(s.flags, flags);
  for (const [k, v] of Object.entries(fields)) t.is((s as unknown as Record<string, unknown>)[k], v, k);
  return s;
}

/** Handshake with a peer ISN near the 2^32 wrap; returns the host's ISS. */
function handshake(t: ExecutionContext, h: Harness, peerIss: number): number {
  h.send({ seq: peerIss, flags: SYN, mss: 1200, wscale: 2 });
  const synAck = expectOne(t, h.recv(), 'SYN,ACK', { ack: (peerIss + 1) >>> 0, mss: 1460 });
  t.true(synAck.wscale >= 0);
  h.send({ seq: peerIss + 1, ack: synAck.seq + 1, flags: ACK });
  t.deepEqual(h.recv(), []);
  t.is(h.acceptor.accepted.length, 1);
  t.is(h.acceptor.accepted[0]!.conn.state, TcpState.ESTABLISHED);
  return synAck.seq;
}

test('passive open, delayed ACK, and the peer closing first (sequence numbers across the wrap)', (t) => {
  const h = new Harness();
  const p = 0xfffffff0;
  const iss = handshake(t, h, p);
  const { conn, rec } = h.acceptor.accepted[0]!;
  t.deepEqual(rec.events, ['CONNECTED', 'WRITABLE']);
  // 20 bytes that cross the wrap: delivered; the read opens the window past what the
  // SYN,ACK could offer, so this first ACK goes at once with the scaled window.
  h.send({ seq: p + 1, ack: iss + 1, flags: ACK | PSH, payload: 'abcdefghijklmnopqrst' });
  t.is(rec.text, 'abcdefghijklmnopqrst');
  expectOne(t, h.recv(), 'ACK', { seq: (iss + 1) >>> 0, ack: (p + 21) >>> 0, win: 32768 });
  // The next small segment's ACK is delayed 40 ms, then nothing more.
  h.send({ seq: p + 21, ack: iss + 1, flags: ACK | PSH, payload: 'uvwxy' });
  t.is(rec.text, 'abcdefghijklmnopqrstuvwxy');
  t.deepEqual(h.recv(), []);
  h.at(39);
  t.deepEqual(h.recv(), []);
  h.at(40);
  expectOne(t, h.recv(), 'ACK', { seq: (iss + 1) >>> 0, ack: (p + 26) >>> 0 });
  h.at(1000);
  t.deepEqual(h.recv(), []);
  // The peer's FIN: CLOSE-WAIT, the application sees END, and the ACK is delayed (so an
  // application that closes at once merges it with its FIN); this one does not close.
  h.send({ seq: p + 26, ack: iss + 1, flags: FIN | ACK });
  t.is(conn.state, TcpState.CLOSE_WAIT);
  t.true(rec.events.includes('END'));
  t.deepEqual(h.recv(), []);
  h.at(1040);
  expectOne(t, h.recv(), 'ACK', { ack: (p + 27) >>> 0 });
  // Our close: FIN, LAST-ACK; the peer's ACK closes it.
  conn.shutdown(50);
  h.host.tcp.touch(conn);
  h.host.turn();
  expectOne(t, h.recv(), 'FIN,ACK', { seq: (iss + 1) >>> 0 });
  t.is(conn.state, TcpState.LAST_ACK);
  h.send({ seq: p + 27, ack: iss + 2, flags: ACK });
  t.is(conn.state, TcpState.CLOSED);
  t.is(h.host.tcp.size, 0);
  t.is(h.host.nextDeadline(), Infinity);
});

test('every second full-sized segment is acknowledged at once', (t) => {
  const h = new Harness();
  const iss = handshake(t, h, 1000);
  const full = Buffer.alloc(1200, 0x61);
  // The first read opens the window beyond the 64 KiB a SYN can offer: that update goes at once.
  h.send({ seq: 1001, ack: iss + 1, flags: ACK, payload: full });
  expectOne(t, h.recv(), 'ACK', { ack: 2201 });
  h.send({ seq: 2201, ack: iss + 1, flags: ACK, payload: full });
  t.deepEqual(h.recv(), []);
  h.send({ seq: 3401, ack: iss + 1, flags: ACK, payload: full });
  expectOne(t, h.recv(), 'ACK', { ack: 4601 });
});

test('RST for segments to no socket (RFC 9293 §3.10.7.1)', (t) => {
  const h = new Harness(0);
  h.send({ seq: 500, flags: SYN, dport: 81 });
  expectOne(t, h.recv(), 'RST,ACK', { seq: 0, ack: 501 });
  h.send({ seq: 500, ack: 777, flags: ACK, dport: 81, payload: 'xy' });
  expectOne(t, h.recv(), 'RST', { seq: 777 });
  h.send({ seq: 500, flags: RST, dport: 81 });
  t.deepEqual(h.recv(), []);
  t.is(h.host.counters.drops.tcp_no_socket, 3);
});

test('an ACK to a listener draws <SEQ=SEG.ACK><CTL=RST>; an RST to a listener is ignored', (t) => {
  const h = new Harness();
  h.send({ seq: 1, ack: 99, flags: ACK });
  expectOne(t, h.recv(), 'RST', { seq: 99 });
  h.send({ seq: 1, flags: RST });
  t.deepEqual(h.recv(), []);
});

test('a corrupted segment is dropped and counted, and the next good one is answered', (t) => {
  const h = new Harness();
  const pkt = buildSegment({ src: PEER, dst: HOST, sport: 40000, dport: 80, seq: 1, flags: SYN });
  pkt[pkt.length - 1]! ^= 0x40;
  h.host.link.inject(pkt);
  t.deepEqual(h.recv(), []);
  t.is(h.host.counters.drops.tcp_bad_checksum, 1);
  h.send({ seq: 1, flags: SYN });
  expectOne(t, h.recv(), 'SYN,ACK', { ack: 2 });
});

test('RST handling in ESTABLISHED: exact RCV.NXT resets, elsewhere in the window draws a challenge ACK (RFC 5961 §3.2)', (t) => {
  const h = new Harness();
  const iss = handshake(t, h, 5000);
  const { conn, rec } = h.acceptor.accepted[0]!;
  h.send({ seq: 5100, flags: RST });
  expectOne(t, h.recv(), 'ACK', { seq: (iss + 1) >>> 0, ack: 5001 });
  t.is(conn.state, TcpState.ESTABLISHED);
  h.send({ seq: 5001, flags: RST });
  t.deepEqual(h.recv(), []);
  t.is(conn.state, TcpState.CLOSED);
  t.is(rec.error, 'ECONNRESET');
  t.deepEqual(rec.events.slice(-2), ['ERROR', 'CLOSED']);
  t.is(h.host.tcp.size, 0);
});

test('SYN on an established connection draws a challenge ACK (RFC 5961 §4.2)', (t) => {
  const h = new Harness();
  const iss = handshake(t, h, 7000);
  h.send({ seq: 9999, flags: SYN });
  expectOne(t, h.recv(), 'ACK', { seq: (iss + 1) >>> 0, ack: 7001 });
  t.is(h.acceptor.accepted[0]!.conn.state, TcpState.ESTABLISHED);
});

test('an ACK for data never sent is answered with an ACK and dropped', (t) => {
  const h = new Harness();
  const iss = handshake(t, h, 100);
  h.send({ seq: 101, ack: iss + 5000, flags: ACK, payload: 'zz' });
  expectOne(t, h.recv(), 'ACK', { ack: 101 });
  t.is(h.acceptor.accepted[0]!.rec.text, '');
  t.is(h.host.counters.drops.tcp_bad_ack, 1);
});

test('data outside the receive window is not delivered and draws an ACK', (t) => {
  const h = new Harness();
  const iss = handshake(t, h, 100);
  h.send({ seq: 101 + 10_000_000, ack: iss + 1, flags: ACK, payload: 'far' });
  expectOne(t, h.recv(), 'ACK', { ack: 101 });
  h.send({ seq: 1, ack: iss + 1, flags: ACK, payload: 'old' });
  expectOne(t, h.recv(), 'ACK', { ack: 101 });
  t.is(h.acceptor.accepted[0]!.rec.text, '');
  t.is(h.host.counters.drops.tcp_not_acceptable, 2);
});

test('a retransmitted SYN in SYN-RECEIVED re-sends the SYN,ACK; the SYN,ACK is retransmitted on timeout', (t) => {
  const h = new Harness();
  h.send({ seq: 10, flags: SYN });
  const first = expectOne(t, h.recv(), 'SYN,ACK');
  h.send({ seq: 10, flags: SYN });
  expectOne(t, h.recv(), 'SYN,ACK', { seq: first.seq, ack: 11 });
  h.at(1000);
  expectOne(t, h.recv(), 'SYN,ACK', { seq: first.seq });
  h.at(3000);
  expectOne(t, h.recv(), 'SYN,ACK', { seq: first.seq });
});

test('active open: SYN retransmitted with exponential backoff, then ETIMEDOUT at the connect timeout', (t) => {
  const host = new SimHost(HOST);
  const rec = new Recorder();
  const conn = host.tcp.connect(0x0a000009, 8080, rec, 0);
  host.turn();
  const syn = decode(host.link.take()[0]!);
  t.is(syn.flags, 'SYN');
  t.is(syn.mss, 1460);
  const times: number[] = [];
  for (let i = 0; i < 20 && host.nextDeadline() !== Infinity; i++) {
    const d = host.nextDeadline();
    host.advance(d);
    for (const p of host.link.take()) {
      t.is(decode(p).seq, syn.seq);
      times.push(d);
    }
  }
  t.deepEqual(times, [1000, 3000, 7000, 15000, 31000, 63000]);
  t.is(conn.state, TcpState.CLOSED);
  t.is(rec.error, 'ETIMEDOUT');
  t.is(host.tcp.size, 0);
});

test('active open: a RST,ACK in SYN-SENT is ECONNREFUSED; a RST without an acceptable ACK is ignored', (t) => {
  const host = new SimHost(HOST);
  const rec = new Recorder();
  const conn = host.tcp.connect(0x0a000009, 8080, rec, 0);
  host.turn();
  const syn = decode(host.link.take()[0]!);
  host.link.inject(buildSegment({ src: PEER, dst: HOST, sport: 8080, dport: syn.sport, seq: 0, ack: syn.seq + 7, flags: RST | ACK }));
  t.is(conn.state, TcpState.SYN_SENT);
  t.deepEqual(host.link.take(), []);
  host.link.inject(buildSegment({ src: PEER, dst: HOST, sport: 8080, dport: syn.sport, seq: 0, ack: syn.seq + 1, flags: RST | ACK }));
  t.is(conn.state, TcpState.CLOSED);
  t.is(rec.error, 'ECONNREFUSED');
});

test('ABORT sends <SEQ=SND.NXT><CTL=RST>', (t) => {
  const h = new Harness();
  const iss = handshake(t, h, 42);
  const { conn } = h.acceptor.accepted[0]!;
  conn.abort(0);
  h.host.tcp.touch(conn);
  h.host.turn();
  expectOne(t, h.recv(), 'RST', { seq: (iss + 1) >>> 0 });
  t.is(h.host.tcp.size, 0);
});

test('closing with unread data resets the connection (RFC 2525 §2.17)', (t) => {
  const h = new Harness();
  h.acceptor.makeRecorder = () => new Recorder(false);
  const iss = handshake(t, h, 42);
  const { conn } = h.acceptor.accepted[0]!;
  h.send({ seq: 43, ack: iss + 1, flags: ACK, payload: 'unread' });
  h.recv();
  conn.close(0);
  h.host.tcp.touch(conn);
  h.host.turn();
  expectOne(t, h.recv(), 'RST');
});

function pair() {
  const a = new SimHost('10.0.0.1', { secret: 1 });
  const b = new SimHost('10.0.0.2', { secret: 2 });
  return { a, b, wire: new Wire(a, b) };
}

test('simultaneous open: both SYNs cross, both sides reach ESTABLISHED', (t) => {
  const { a, b, wire } = pair();
  const ra = new Recorder();
  const rb = new Recorder();
  const ca = a.tcp.connect(b.addr, 6000, ra, 0, 5000);
  const cb = b.tcp.connect(a.addr, 5000, rb, 0, 6000);
  a.turn();
  b.turn();
  t.is(wire.ab.length, 1);
  t.is(wire.ba.length, 1);
  wire.deliver();
  t.is(ca.state, TcpState.ESTABLISHED);
  t.is(cb.state, TcpState.ESTABLISHED);
  t.true(ra.events.includes('CONNECTED'));
  t.true(rb.events.includes('CONNECTED'));
  ca.send(Buffer.from('ping'));
  a.tcp.touch(ca);
  a.turn();
  wire.deliver();
  t.is(rb.text, 'ping');
});

test('simultaneous close: both FINs cross, CLOSING, then TIME-WAIT on both sides', (t) => {
  const { a, b, wire } = pair();
  const acc = new Acceptor();
  b.tcp.listen(80, acc);
  const ra = new Recorder();
  const ca = a.tcp.connect(b.addr, 80, ra, 0);
  a.turn();
  wire.deliver();
  const cb = acc.accepted[0]!.conn;
  ca.shutdown(0);
  cb.shutdown(0);
  a.tcp.touch(ca);
  b.tcp.touch(cb);
  a.turn();
  b.turn();
  // Deliver only the two FINs: both sides are in CLOSING.
  const fins = [wire.ab.splice(0), wire.ba.splice(0)];
  t.is(decode(fins[0]![0]!).flags, 'FIN,ACK');
  b.link.inject(...fins[0]!);
  a.link.inject(...fins[1]!);
  t.is(ca.state, TcpState.CLOSING);
  t.is(cb.state, TcpState.CLOSING);
  wire.deliver();
  t.is(a.tcp.timeWaitCount, 1);
  t.is(b.tcp.timeWaitCount, 1);
  wire.settle();
  t.is(a.tcp.timeWaitCount + b.tcp.timeWaitCount + a.tcp.size + b.tcp.size, 0);
});

test('the merged three-way teardown: closing on EOF sends one FIN,ACK', (t) => {
  const { a, b, wire } = pair();
  const acc = new Acceptor();
  acc.makeRecorder = () => {
    const r = new Recorder();
    r.onEvent = (e, c) => {
      if (e === ConnEvent.END) c.shutdown(0);
    };
    return r;
  };
  b.tcp.listen(80, acc);
  const ca = a.tcp.connect(b.addr, 80, new Recorder(), 0);
  a.turn();
  wire.deliver();
  ca.shutdown(0);
  a.tcp.touch(ca);
  a.turn();
  const finPkts = wire.ab.splice(0);
  const fin = finPkts.map(decode);
  t.deepEqual(fin.map((s) => s.flags), ['FIN,ACK']);
  b.link.inject(...finPkts);
  const reply = wire.ba.splice(0).map(decode);
  t.deepEqual(reply.map((s) => s.flags), ['FIN,ACK'], 'the ACK of the FIN and our FIN share one segment');
  t.is(reply[0]!.ack, (fin[0]!.seq + 1) >>> 0);
});

test('TIME-WAIT: a retransmitted FIN is acknowledged again; a new SYN above RCV.NXT opens a new connection', (t) => {
  const h = new Harness();
  const iss = handshake(t, h, 1000);
  const { conn } = h.acceptor.accepted[0]!;
  // We close first; the peer acknowledges and sends its FIN: TIME-WAIT.
  conn.shutdown(0);
  h.host.tcp.touch(conn);
  h.host.turn();
  expectOne(t, h.recv(), 'FIN,ACK');
  h.send({ seq: 1001, ack: iss + 2, flags: FIN | ACK });
  expectOne(t, h.recv(), 'ACK', { ack: 1002 });
  t.is(h.host.tcp.timeWaitCount, 1);
  h.send({ seq: 1001, ack: iss + 2, flags: FIN | ACK });
  expectOne(t, h.recv(), 'ACK', { seq: (iss + 2) >>> 0, ack: 1002 });
  h.send({ seq: 1001, flags: RST });
  t.deepEqual(h.recv(), [], 'RFC 1337: RST ignored in TIME-WAIT');
  t.is(h.host.tcp.timeWaitCount, 1);
  h.send({ seq: 900_000, flags: SYN });
  const synAck = expectOne(t, h.recv(), 'SYN,ACK', { ack: 900_001 });
  t.not(synAck.seq, iss);
  t.is(h.host.tcp.timeWaitCount, 0);
});

test('a lost data segment is retransmitted after the RTO and arrives', (t) => {
  const { a, b, wire } = pair();
  const acc = new Acceptor();
  b.tcp.listen(80, acc);
  const ca = a.tcp.connect(b.addr, 80, new Recorder(), 0);
  a.turn();
  wire.deliver();
  let dropped = 0;
  wire.drop = (p, fromA) => fromA && decode(p).len > 0 && dropped++ === 0;
  ca.send(Buffer.from('lost then found'));
  a.tcp.touch(ca);
  a.turn();
  wire.deliver();
  t.is(acc.accepted[0]!.rec.text, '');
  wire.step();
  t.is(acc.accepted[0]!.rec.text, 'lost then found');
  t.is(ca.stats.retransmits, 1);
});

test('a peer that vanishes ends in ETIMEDOUT after the retry limit, never a hang', (t) => {
  const { a, b, wire } = pair();
  const acc = new Acceptor();
  b.tcp.listen(80, acc);
  const ra = new Recorder();
  const ca = a.tcp.connect(b.addr, 80, ra, 0);
  a.turn();
  wire.deliver();
  wire.drop = () => true;
  ca.send(Buffer.from('anyone there?'));
  a.tcp.touch(ca);
  a.turn();
  for (let i = 0; i < 100 && ca.state !== TcpState.CLOSED; i++) wire.step();
  t.is(ra.error, 'ETIMEDOUT');
  // 15 RTO retransmissions (the retry limit), after one tail loss probe that RACK-TLP
  // sends where the first RTO would have fired (RFC 8985 §7.2–7.3).
  t.is(ca.stats.retransmits, 16);
  t.is(ca.stats.tlpProbes, 1);
  t.is(ca.stats.timeouts, 15);
  t.is(a.tcp.size, 0);
});

test('zero window: the sender probes, and the transfer completes when the reader reads', (t) => {
  const a = new SimHost('10.0.0.1');
  const b = new SimHost('10.0.0.2', { config: { recvBufferSize: 8192 } });
  const wire = new Wire(a, b);
  const acc = new Acceptor();
  acc.makeRecorder = () => new Recorder(false);
  b.tcp.listen(80, acc);
  const ca = a.tcp.connect(b.addr, 80, new Recorder(), 0);
  a.turn();
  wire.deliver();
  const payload = Buffer.alloc(50_000, 7);
  let sent = ca.send(payload);
  a.tcp.touch(ca);
  a.turn();
  wire.deliver();
  const cb = acc.accepted[0]!.conn;
  t.is(cb.readable, 8192);
  wire.step(); // the delayed ACK carries the zero window
  t.is(ca.sndWnd, 0);
  // Probes go out while the window stays shut; nothing beyond the window is accepted.
  for (let i = 0; i < 5; i++) wire.step();
  t.is(cb.readable, 8192);
  t.is(ca.state, TcpState.ESTABLISHED);
  const got: Buffer[] = [];
  for (let i = 0; i < 1000 && Buffer.concat(got).length < payload.length; i++) {
    got.push(cb.read());
    b.tcp.touch(cb);
    b.turn();
    if (sent < payload.length) {
      sent += ca.send(payload, sent);
      a.tcp.touch(ca);
      a.turn();
    }
    if (wire.deliver() === 0) wire.step();
  }
  t.true(Buffer.concat(got).equals(payload));
});

test('malformed TCP headers are dropped and counted per reason, never thrown', (t) => {
  const h = new Harness();
  const good = buildSegment({ src: PEER, dst: HOST, sport: 40000, dport: 80, seq: 1, flags: SYN, mss: 1400 });
  const reseal = (pkt: Buffer): Buffer => {
    // Recompute the TCP checksum so only the field under test is wrong.
    pkt.writeUInt16BE(0, 36);
    finishTcpChecksum(pkt, 20, pkt.length - 20, 0x0a000009, 0x0a000002);
    return pkt;
  };
  const cases: [string, Buffer][] = [];
  const ipOnly = (tcpLen: number): Buffer => {
    const p = Buffer.from(good.subarray(0, 20 + tcpLen));
    p.writeUInt16BE(20 + tcpLen, 2);
    p.writeUInt16BE(0, 10);
    p.writeUInt16BE(internetChecksum(p, 0, 20), 10);
    return p;
  };
  cases.push(['tcp_truncated', ipOnly(12)]);
  const lowOff = Buffer.from(good);
  lowOff[32] = 0x40; // data offset 4
  cases.push(['tcp_bad_data_offset', reseal(lowOff)]);
  const highOff = Buffer.from(good);
  highOff[32] = 0xf0; // 60 bytes of header in a 24-byte segment
  cases.push(['tcp_bad_data_offset', reseal(highOff)]);
  const badOpt = Buffer.from(good);
  badOpt[41] = 40; // MSS option claims 40 bytes
  cases.push(['tcp_bad_options', reseal(badOpt)]);
  const port0 = Buffer.from(good);
  port0.writeUInt16BE(0, 20);
  cases.push(['tcp_bad_port', reseal(port0)]);
  for (const [reason, pkt] of cases) {
    const before = (h.host.counters.drops as Record<string, number>)[reason]!;
    t.notThrows(() => h.host.link.inject(pkt));
    t.is((h.host.counters.drops as Record<string, number>)[reason], before + 1, reason);
    t.deepEqual(h.recv(), [], reason);
  }
  h.host.link.inject(good);
  expectOne(t, h.recv(), 'SYN,ACK', { mss: 1460 });
});

test('the SYN queue is bounded: SYNs beyond it are dropped and counted (RFC 4987 §3.1)', (t) => {
  const h = new Harness();
  for (let i = 0; i < 1100; i++) h.send({ seq: 1000 + i, flags: SYN, sport: 20000 + i });
  const synAcks = h.recv().filter((s) => s.flags === 'SYN,ACK');
  t.is(synAcks.length, 1024);
  t.is(h.host.counters.drops.tcp_listen_overflow, 1100 - 1024);
  t.is(h.acceptor.accepted.length, 0);
});
