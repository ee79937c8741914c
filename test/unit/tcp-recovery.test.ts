/**
 * Loss recovery and the RFC 7323 / RFC 2018 options: negotiation, fast retransmit with
 * SACK (only the holes are resent, no timeout) and without it (NewReno), PAWS, and RTT
 * samples from timestamps.
 */
import test from 'ava';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { TcpConfig } from '../../src/tcp/config';
import { TcpFlag } from '../../src/wire/tcp';
import { buildSegment, decode } from '../helpers/segments';
import { SimHost, Wire } from '../helpers/sim-host';

class Sink implements ConnectionOwner, ListenerOwner {
  data: Buffer[] = [];
  conns: Connection[] = [];
  onConnectionEvents(c: Connection): void {
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) if (e === ConnEvent.READABLE) this.data.push(c.read());
  }
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) {
      c.owner = this;
      this.conns.push(c);
      this.onConnectionEvents(c);
    }
  }
  get bytes(): number {
    return this.data.reduce((n, d) => n + d.length, 0);
  }
}

function pair(config: Partial<TcpConfig> = {}) {
  const a = new SimHost('10.0.0.1', { config });
  const b = new SimHost('10.0.0.2', { config });
  const wire = new Wire(a, b);
  const sink = new Sink();
  b.tcp.listen(80, sink);
  const ca = a.tcp.connect(b.addr, 80, new Sink(), 0);
  a.turn();
  wire.deliver();
  return { a, b, wire, sink, ca, cb: sink.conns[0]! };
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 9)) & 0xff;
  return b;
}

test('the handshake negotiates MSS, window scale, SACK and timestamps when both offer them', (t) => {
  const a = new SimHost('10.0.0.1');
  const b = new SimHost('10.0.0.2');
  const wire = new Wire(a, b);
  const sink = new Sink();
  b.tcp.listen(80, sink);
  const ca = a.tcp.connect(b.addr, 80, new Sink(), 0);
  a.turn();
  const syn = wire.ab.slice();
  wire.deliver();
  const d = decode(syn[0]!);
  t.is(d.flags, 'SYN');
  t.is(d.mss, 1460);
  t.true(d.wscale >= 0);
  t.true(ca.tsOk && ca.sackOk && ca.scalingAgreed);
  t.true(sink.conns[0]!.tsOk && sink.conns[0]!.sackOk);
});

for (const sack of [true, false]) {
  test(`fast retransmit ${sack ? 'with SACK resends only the lost segments' : 'with NewReno recovers several losses'} — no timeout`, (t) => {
    const { a, wire, sink, ca, cb } = pair({ sack });
    t.is(ca.sackOk, sack);
    const payload = pattern(40 * 1448);
    // Lose the 3rd, 7th and 8th data segments of the flight, once each.
    let n = 0;
    const lose = new Set([3, 7, 8]);
    wire.drop = (p, fromA) => fromA && decode(p).len > 0 && lose.has(++n);
    let sent = ca.send(payload);
    a.tcp.touch(ca);
    a.turn();
    for (let i = 0; i < 200 && sink.bytes < payload.length; i++) {
      if (wire.deliver() === 0) break; // no timers: recovery must come from ACKs alone
      if (sent < payload.length) sent += ca.send(payload, sent);
      a.tcp.touch(ca);
      a.turn();
    }
    t.true(Buffer.concat(sink.data).equals(payload), `${sink.bytes} of ${payload.length} bytes; sndUna-iss=${ca.sndUna - ca.iss} sndNxt-iss=${ca.sndNxt - ca.iss} cwnd=${ca.cc.cwnd}`);
    t.is(ca.stats.retransmits, 3);
    t.is(wire.now, 0, 'virtual time never advanced: no retransmission timeout');
    void cb;
  });
}

test('a burst of losses beyond what SACK recovery can see is repaired by the RTO', (t) => {
  const { a, wire, sink, ca } = pair();
  const payload = pattern(30 * 1448);
  let n = 0;
  wire.drop = (p, fromA) => fromA && decode(p).len > 0 && ++n >= 9 && n <= 10 + 20; // lose the tail of the flight
  let sent = ca.send(payload);
  a.tcp.touch(ca);
  a.turn();
  for (let i = 0; i < 500 && sink.bytes < payload.length; i++) {
    if (wire.deliver() === 0) wire.step();
    if (sent < payload.length) sent += ca.send(payload, sent);
    a.tcp.touch(ca);
    a.turn();
  }
  t.true(Buffer.concat(sink.data).equals(payload));
});

test('PAWS: a segment with an old timestamp is dropped, counted and answered with an ACK (RFC 7323 §5.3)', (t) => {
  const host = new SimHost('10.0.0.2');
  const sink = new Sink();
  host.tcp.listen(80, sink);
  const peer = { src: '10.0.0.9', dst: '10.0.0.2', sport: 40000, dport: 80 };
  const withTs = (tsVal: number, tsEcr: number) => (pkt: Buffer) => pkt;
  void withTs;
  // Build segments with timestamps by hand: SYN with TS, then an ACK, then data with an older TS.
  const { TcpOptions, tcpOptionsLength, writeTcpOptions } = require('../../src/wire/tcp-options') as typeof import('../../src/wire/tcp-options');
  const { writeIpv4Header, IpProtocol, parseIpv4 } = require('../../src/wire/ipv4') as typeof import('../../src/wire/ipv4');
  const { writeTcpHeader, finishTcpChecksum } = require('../../src/wire/tcp') as typeof import('../../src/wire/tcp');
  const seg = (seq: number, ack: number, flags: number, tsVal: number, tsEcr: number, payload = Buffer.alloc(0), syn = false): Buffer => {
    const o = new TcpOptions();
    if (syn) o.mss = 1460;
    o.hasTimestamps = true;
    o.tsVal = tsVal;
    o.tsEcr = tsEcr;
    const ol = tcpOptionsLength(o, syn);
    const pkt = Buffer.alloc(40 + ol + payload.length);
    writeIpv4Header(pkt, 0, pkt.length, 1, 0, 64, IpProtocol.TCP, parseIpv4(peer.src)!, parseIpv4(peer.dst)!);
    writeTcpHeader(pkt, 20, peer.sport, peer.dport, seq >>> 0, ack >>> 0, 20 + ol, flags, 65535, 0);
    writeTcpOptions(pkt, 40, o, syn);
    payload.copy(pkt, 40 + ol);
    finishTcpChecksum(pkt, 20, pkt.length - 20, parseIpv4(peer.src)!, parseIpv4(peer.dst)!);
    return pkt;
  };
  host.link.inject(seg(100, 0, TcpFlag.SYN, 5000, 0, undefined, true));
  const synAck = decode(host.link.take()[0]!);
  t.is(synAck.flags, 'SYN,ACK');
  host.link.inject(seg(101, synAck.seq + 1, TcpFlag.ACK, 5001, 1));
  host.link.inject(seg(101, synAck.seq + 1, TcpFlag.ACK, 5002, 1, Buffer.from('new')));
  t.is(Buffer.concat(sink.data).toString(), 'new');
  host.link.take();
  host.link.inject(seg(104, synAck.seq + 1, TcpFlag.ACK, 4000, 1, Buffer.from('old')));
  t.is(Buffer.concat(sink.data).toString(), 'new');
  t.is(host.counters.drops.tcp_paws, 1);
  const reply = host.link.take().map(decode);
  t.is(reply.length, 1);
  t.is(reply[0]!.flags, 'ACK');
  // A segment without timestamps, once they are negotiated, is dropped too (RFC 7323 §3.2).
  host.link.inject(buildSegment({ ...peer, seq: 104, ack: synAck.seq + 1, flags: TcpFlag.ACK, payload: Buffer.from('bare') }));
  t.is(host.counters.drops.tcp_paws, 2);
  t.is(Buffer.concat(sink.data).toString(), 'new');
});

test('RTT samples come from echoed timestamps', (t) => {
  const a = new SimHost('10.0.0.1');
  const b = new SimHost('10.0.0.2');
  const wire = new Wire(a, b);
  b.tcp.listen(80, new Sink());
  const ca = a.tcp.connect(b.addr, 80, new Sink(), 0);
  a.turn();
  // 25 ms each way: advance time before each delivery round.
  const run = () => {
    for (let i = 0; i < 100 && (wire.ab.length > 0 || wire.ba.length > 0); i++) {
      wire.now += 25;
      a.advance(wire.now);
      b.advance(wire.now);
      wire.deliver(1);
    }
  };
  run();
  ca.send(pattern(20_000));
  a.tcp.touch(ca);
  a.turn();
  run();
  t.true(ca.tsOk);
  t.true(ca.rtt.hasSample);
  t.true(ca.rtt.srtt >= 45 && ca.rtt.srtt <= 55, `srtt ${ca.rtt.srtt}`);
});
