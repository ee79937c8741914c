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

function setup() {
  const a = new SimHost('10.0.0.1');
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
