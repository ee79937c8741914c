import test from 'ava';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { TcpState } from '../../src/tcp/state';
import { SimHost, Wire } from '../helpers/sim-host';

/** Records events and read data of a connection. */
class Recorder implements ConnectionOwner {
  events: string[] = [];
  data: Buffer[] = [];
  error: string | null = null;
  constructor(readonly host: SimHost, public autoRead = true) {}
  onConnectionEvents(c: Connection): void {
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) {
      const name = Object.entries(ConnEvent).find(([, v]) => v === e)![0];
      this.events.push(name);
      if (e === ConnEvent.READABLE && this.autoRead) this.data.push(c.read());
      if (e === ConnEvent.ERROR) this.error = c.error;
    }
  }
  get text(): string {
    return Buffer.concat(this.data).toString();
  }
}

class Acceptor implements ListenerOwner {
  accepted: { conn: Connection; rec: Recorder }[] = [];
  constructor(readonly host: SimHost) {}
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) {
      const rec = new Recorder(this.host);
      c.owner = rec;
      this.accepted.push({ conn: c, rec });
      rec.onConnectionEvents(c);
    }
  }
}

function setup(opts: { tso?: boolean } = {}) {
  const a = new SimHost('10.0.0.1', { tso: opts.tso });
  const b = new SimHost('10.0.0.2');
  const wire = new Wire(a, b);
  const acceptor = new Acceptor(b);
  b.tcp.listen(80, acceptor);
  const rec = new Recorder(a);
  const conn = a.tcp.connect(b.addr, 80, rec, 0);
  a.turn();
  return { a, b, wire, acceptor, rec, conn };
}

test('three-way handshake, data both ways, four-way close, TIME-WAIT expiry', (t) => {
  const { a, b, wire, acceptor, rec, conn } = setup();
  wire.deliver();
  t.is(conn.state, TcpState.ESTABLISHED);
  t.is(acceptor.accepted.length, 1);
  const server = acceptor.accepted[0]!;
  t.is(server.conn.state, TcpState.ESTABLISHED);
  t.deepEqual(rec.events, ['CONNECTED', 'WRITABLE']);

  conn.send(Buffer.from('hello'));
  a.tcp.touch(conn);
  a.turn();
  wire.deliver();
  t.is(server.rec.text, 'hello');
  server.conn.send(Buffer.from('world'));
  b.tcp.touch(server.conn);
  b.turn();
  wire.deliver();
  t.is(rec.text, 'world');

  // Client closes first: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT.
  conn.shutdown(0);
  a.tcp.touch(conn);
  a.turn();
  wire.deliver();
  t.is(server.conn.state, TcpState.CLOSE_WAIT);
  t.true(server.rec.events.includes('END'));
  t.is(conn.state, TcpState.FIN_WAIT_1, 'the ACK of the FIN is delayed');
  wire.step(); // the delayed ACK
  t.is(conn.state, TcpState.FIN_WAIT_2);
  server.conn.shutdown(0);
  b.tcp.touch(server.conn);
  b.turn();
  wire.deliver();
  t.is(server.conn.state, TcpState.CLOSED);
  t.is(a.tcp.timeWaitCount, 1);
  t.is(a.tcp.size, 0);
  t.is(b.tcp.size, 0);
  // TIME-WAIT lasts 2×MSL = 60 s.
  wire.settle(59_999);
  t.is(a.tcp.timeWaitCount, 1);
  wire.settle();
  t.is(a.tcp.timeWaitCount, 0);
  t.is(a.nextDeadline(), Infinity);
  t.is(b.nextDeadline(), Infinity);
});

test('a large transfer arrives intact through flow control', (t) => {
  const { a, b, wire, acceptor, conn } = setup();
  wire.deliver();
  const server = acceptor.accepted[0]!;
  const payload = Buffer.alloc(3_000_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 11)) & 0xff;
  let sent = 0;
  for (let i = 0; i < 100_000 && server.rec.data.reduce((n, d) => n + d.length, 0) < payload.length; i++) {
    if (sent < payload.length) {
      sent += conn.send(payload, sent);
      a.tcp.touch(conn);
      a.turn();
    }
    if (wire.deliver() === 0) wire.step();
  }
  t.true(Buffer.concat(server.rec.data).equals(payload));
  t.is(conn.stats.retransmits, 0);
  void b;
});

test('TSO: new data leaves in packets of whole segments of the MSS less options; only the tail may be short; a retransmission is one segment', (t) => {
  const { a, wire, acceptor, conn } = setup({ tso: true });
  wire.deliver();
  const server = acceptor.accepted[0]!;
  // What the stack hands its link, before the link cuts it: payload length and segment size.
  const packets: { payload: number; segSize: number; seq: number }[] = [];
  const commit = a.link.commit.bind(a.link);
  a.link.commit = (off: number, len: number, segSize = 0): void => {
    const buf = a.link.txBuf;
    const ipLen = (buf[off]! & 0x0f) * 4;
    const tcpLen = (buf[off + ipLen + 12]! >> 4) * 4;
    const payload = len - ipLen - tcpLen;
    if (payload > 0) packets.push({ payload, segSize, seq: buf.readUInt32BE(off + ipLen + 4) });
    commit(off, len, segSize);
  };
  // Lose the third wire segment of the first burst, once.
  let wireSegs = 0;
  wire.drop = (pkt, fromA) => fromA && pkt.length > 100 && ++wireSegs === 3;
  const payload = Buffer.alloc(200_003);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 13 + (i >> 9)) & 0xff;
  let sent = 0;
  for (let i = 0; i < 10_000 && Buffer.concat(server.rec.data).length < payload.length; i++) {
    if (sent < payload.length) {
      sent += conn.send(payload, sent);
      a.tcp.touch(conn);
      a.turn();
    }
    if (wire.deliver() === 0) wire.step();
  }
  t.true(Buffer.concat(server.rec.data).equals(payload), 'every byte arrived, in order');
  const mss = conn.effMss; // 1460 less the 12 bytes of timestamps
  t.is(mss, 1448);
  t.true(packets.every((p) => p.segSize === mss), 'the segment size is the MSS less the options');
  t.true(packets.some((p) => p.payload > 10 * mss - 1), `a TSO packet of the whole initial window (${packets[0]!.payload} bytes)`);
  const end = conn.iss + 1 + payload.length;
  for (const p of packets) {
    const tail = ((p.seq + p.payload) >>> 0) === (end >>> 0);
    t.true(p.payload % mss === 0 || tail || p.payload < mss, `${p.payload} bytes: whole segments unless it ends the data`);
  }
  t.is(conn.stats.retransmits > 0, true, 'the lost segment was resent');
  // A retransmission starts below the highest sequence number sent before it.
  let highest = packets[0]!.seq;
  const retransmitted = packets.filter((p) => {
    const again = ((p.seq - highest) | 0) < 0;
    if (!again) highest = (p.seq + p.payload) >>> 0;
    return again;
  });
  t.true(retransmitted.length > 0 && retransmitted.every((p) => p.payload <= mss), 'a retransmission is one segment');
});
