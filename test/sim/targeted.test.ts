/**
 * Targeted simulator tests for the bad-input cases of issue 4, each with a fixed setup:
 * a peer that never opens (or shrinks) its window, a peer that vanishes, a link that
 * corrupts every packet, a link that duplicates and reorders heavily.
 */
import test from 'ava';
import { DropReason } from '../../src/counters';
import { NO_IMPAIRMENT } from '../../src/link/impair';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { TcpState } from '../../src/tcp/state';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { parseIpv4 } from '../../src/wire/ipv4';
import { TcpFlag } from '../../src/wire/tcp';
import { Decoded, buildSegment, decode } from '../helpers/segments';
import { runScenario, payload } from './helpers/scenario';
import { SimNet, SimNode } from './helpers/sim-net';

const HOST = '10.0.0.1';
const PEER = '10.0.0.9';

/** An application that records what happens and writes a payload as fast as it is taken. */
class Sink implements ConnectionOwner {
  conn: Connection | null = null;
  events: number[] = [];
  error: string | null = null;
  errorAt = -1;
  readonly chunks: Buffer[] = [];
  written = 0;
  constructor(readonly node: SimNode, readonly data: Buffer = Buffer.alloc(0)) {}
  onConnectionEvents(c: Connection): void {
    this.conn = c;
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) {
      this.events.push(e);
      if (e === ConnEvent.READABLE) this.chunks.push(c.read());
      if (e === ConnEvent.ERROR) {
        this.error = c.error;
        this.errorAt = this.node.now;
      }
    }
    this.write();
  }
  write(): void {
    const c = this.conn;
    if (c === null) return;
    while (this.written < this.data.length) {
      const n = c.send(this.data, this.written);
      if (n === 0) break;
      this.written += n;
    }
    this.node.tcp.touch(c);
  }
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

class Accept implements ListenerOwner {
  readonly sinks: Sink[] = [];
  constructor(readonly node: SimNode, readonly data: Buffer) {}
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) {
      const s = new Sink(this.node, this.data);
      c.owner = s;
      this.sinks.push(s);
      s.onConnectionEvents(c);
    }
  }
}

// ---------------------------------------------------------------------------------------
// A crafted peer with a window under the test's control

/**
 * A minimal receiver: answers the SYN, accepts in-order bytes up to the right edge of the
 * window it offers, acknowledges every segment that carries data (or a FIN), and records
 * what the host sent. `window()` is what it offers: the test changes it over time.
 */
class WindowPeer {
  hostIss = -1;
  readonly iss = 7000;
  /** Bytes of the host's stream accepted so far (relative to the host's ISS + 1). */
  rcvNxt = 0;
  /** Right edge of the window in the last ACK sent (relative). */
  lastRight = 0;
  /** The right edge the host knew when it sent the batch being handled. */
  private hostKnowsRight = 0;
  /** Highest relative sequence number of host data seen so far. */
  maxSentEnd = 0;
  /** New data beyond the offered window, other than one-byte probes. */
  readonly violations: string[] = [];
  probes = 0;
  readonly sendTimes: number[] = [];
  readonly accepted: Buffer[] = [];
  constructor(
    readonly node: SimNode,
    public window: () => number,
  ) {}

  /** Exchange packets with the host until it has nothing more to say. */
  pump(): void {
    for (let i = 0; i < 10_000; i++) {
      const out = this.node.mem.take();
      if (out.length === 0) return;
      // The host sent this batch knowing only the ACKs injected before it.
      this.hostKnowsRight = this.lastRight;
      const replies = out.flatMap((p) => this.handle(decode(p)));
      if (replies.length > 0) this.node.mem.inject(...replies);
    }
    throw new Error('the host kept talking: a spin');
  }

  /** Send a window update now (an ACK with the current window). */
  update(): void {
    this.node.mem.inject(this.ack());
    this.pump();
  }

  private ack(): Buffer {
    const win = this.window();
    this.lastRight = this.rcvNxt + win;
    return buildSegment({ src: PEER, dst: HOST, sport: 80, dport: this.port, seq: this.iss + 1, ack: (this.hostIss + 1 + this.rcvNxt) >>> 0, flags: TcpFlag.ACK, win });
  }

  private port = 0;

  private handle(d: Decoded): Buffer[] {
    const flags = d.flags.split(',');
    this.sendTimes.push(this.node.now);
    if (flags.includes('SYN')) {
      this.hostIss = d.seq;
      this.port = d.sport;
      const win = this.window();
      this.lastRight = win;
      return [buildSegment({ src: PEER, dst: HOST, sport: 80, dport: d.sport, seq: this.iss, ack: (d.seq + 1) >>> 0, flags: TcpFlag.SYN | TcpFlag.ACK, win, mss: 1460 })];
    }
    if (flags.includes('RST') || (d.len === 0 && !flags.includes('FIN'))) return [];
    const rel = (d.seq - this.hostIss - 1) >>> 0;
    const end = rel + d.len;
    const known = this.hostKnowsRight;
    if (end > known && d.len === 1) this.probes++;
    if (end > this.maxSentEnd) {
      // New data: it must fit the window we offered, except a one-byte window probe.
      if (end > known && d.len !== 1) this.violations.push(`t=${this.node.now}: [${rel}, ${end}) beyond the right edge ${known}`);
      this.maxSentEnd = end;
    }
    // Accept what is in order and inside the window now offered.
    const right = this.rcvNxt + this.window();
    if (rel <= this.rcvNxt && end > this.rcvNxt) {
      const take = Math.min(end, right) - this.rcvNxt;
      if (take > 0) {
        this.accepted.push(d.payload.subarray(this.rcvNxt - rel, this.rcvNxt - rel + take));
        this.rcvNxt += take;
      }
    }
    return [this.ack()];
  }

  /** Run the host's timers (and answer it) until virtual time `end`; returns the steps taken. */
  runUntil(end: number): number {
    let steps = 0;
    this.pump();
    for (;;) {
      const t = this.node.nextDeadline();
      if (t > end) break;
      this.node.advance(t);
      this.pump();
      if (++steps > 100_000) throw new Error(`spin: over 100000 timer steps before t=${end}`);
    }
    this.node.now = end;
    return steps;
  }

  /** Most segments the host sent within any one virtual second. */
  maxPerSecond(from = 0): number {
    const perSecond = new Map<number, number>();
    for (const t of this.sendTimes) if (t >= from) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    return Math.max(0, ...perSecond.values());
  }
}

function hostAndPeer(window: () => number) {
  const node = new SimNode(HOST, { config: { windowScaling: false } });
  const peer = new WindowPeer(node, window);
  const data = payload(1, 1, 100_000);
  const app = new Sink(node, data);
  const conn = node.tcp.connect(parseIpv4(PEER)!, 80, app, 0);
  app.conn = conn;
  app.write();
  node.turn();
  return { node, peer, app, conn, data };
}

test('a peer that never opens its window: only one-byte probes, backing off, no spin, no timeout', (t) => {
  let win = 0;
  const { peer, conn, app, data } = hostAndPeer(() => win);
  const steps = peer.runUntil(600_000);
  t.is(conn.state, TcpState.ESTABLISHED);
  t.is(app.error, null, 'a peer that answers its probes is not dead (RFC 1122 §4.2.2.17)');
  t.deepEqual(peer.violations, []);
  t.is(peer.rcvNxt, 0);
  t.true(peer.probes >= 5, `${peer.probes} probes in 10 minutes`);
  // Backoff: a handful of probes per minute at most once it has backed off, never a burst.
  t.true(peer.sendTimes.length <= 60, `${peer.sendTimes.length} segments in 10 minutes`);
  t.true(peer.maxPerSecond() <= 5, `${peer.maxPerSecond()} segments in one second`);
  t.true(peer.sendTimes.filter((x) => x >= 300_000).length <= 10);
  t.true(steps <= 200, `${steps} timer steps`);

  // The window opens: everything goes through.
  win = 65_535;
  peer.update();
  peer.runUntil(1_200_000);
  t.true(Buffer.concat(peer.accepted).equals(data));
  t.deepEqual(peer.violations, []);
});

test('a peer that shrinks its window: no new data beyond the right edge, no spin, then recovery', (t) => {
  // The peer offers 8 KiB and never reads until the test says so: its window is what is
  // left of 8 KiB, except that after 4 KiB it announces a zero window (shrinking it,
  // which RFC 9293 §3.8.6 discourages but a sender must survive: RFC 1122 §4.2.2.16).
  let reading = false;
  let shrunk = false;
  let peerRef: WindowPeer | null = null;
  const window = () => {
    const p = peerRef;
    if (reading) return 65_535;
    if (p === null) return 8192;
    if (p.rcvNxt >= 4096) shrunk = true;
    return shrunk ? 0 : Math.max(0, 8192 - p.rcvNxt);
  };
  const { peer, conn, app, data } = hostAndPeer(window);
  peerRef = peer;
  const steps = peer.runUntil(300_000);
  t.true(shrunk);
  t.true(peer.rcvNxt >= 4096 && peer.rcvNxt < 8192, `${peer.rcvNxt}`);
  t.deepEqual(peer.violations, []);
  t.is(conn.state, TcpState.ESTABLISHED);
  t.is(app.error, null);
  t.true(peer.maxPerSecond(1000) <= 5, `${peer.maxPerSecond(1000)} segments in one second`);
  t.true(steps <= 300, `${steps} timer steps`);

  reading = true;
  peer.update();
  peer.runUntil(900_000);
  t.true(Buffer.concat(peer.accepted).equals(data));
  t.deepEqual(peer.violations, []);
});

// ---------------------------------------------------------------------------------------
// Two hosts

function pair(opts: { impairClient?: Partial<typeof NO_IMPAIRMENT>; config?: Record<string, number>; clientBytes?: number; serverBytes?: number; latency?: number; tso?: boolean }) {
  const a = new SimNode(HOST, {
    config: opts.config,
    tso: opts.tso,
    impair: opts.impairClient === undefined ? undefined : { spec: { ...NO_IMPAIRMENT, ...opts.impairClient }, seed: 42 },
  });
  const b = new SimNode('10.0.0.2', { config: opts.config, secret: 9, seed: 5 });
  const net = new SimNet(a, b, opts.latency ?? 5);
  const serverData = payload(2, 2, opts.serverBytes ?? 0);
  const accept = new Accept(b, serverData);
  b.tcp.listen(80, accept);
  const client = new Sink(a, payload(2, 1, opts.clientBytes ?? 0));
  const conn = a.tcp.connect(b.addr, 80, client, 0);
  client.conn = conn;
  client.write();
  a.turn();
  return { a, b, net, accept, client, conn };
}

test('a peer that vanishes mid-transfer: ETIMEDOUT after the retry limit on both sides, never a hang', (t) => {
  const { a, b, net, accept, client } = pair({ clientBytes: 1_000_000, serverBytes: 1_000_000 });
  // Let the transfer get going, then cut the wire both ways.
  for (let until = 5; (accept.sinks[0]?.received.length ?? 0) < 200_000; until += 5) net.run(until);
  const server = accept.sinks[0]!;
  t.true(server.received.length > 0 && client.received.length > 0);
  const cutAt = net.now;
  const rtxBefore = [a.counters.tcpRetransmits, b.counters.tcpRetransmits];
  net.cut = () => true;
  net.run();
  for (const [name, app, node, before] of [['client', client, a, rtxBefore[0]!], ['server', server, b, rtxBefore[1]!]] as const) {
    t.is(app.error, 'ETIMEDOUT', name);
    t.is(app.conn?.state, TcpState.CLOSED, name);
    t.true(app.events.includes(ConnEvent.CLOSED), name);
    // 15 retransmissions (Linux's tcp_retries2), then the connection gives up:
    // RFC 1122 §4.2.3.5 wants at least 100 s of trying.
    t.true(node.counters.tcpRetransmits - before >= node.tcp.config.maxRetries, `${name}: ${node.counters.tcpRetransmits - before} retransmissions`);
    t.true(app.errorAt - cutAt >= 100_000, `${name} gave up after ${app.errorAt - cutAt} ms`);
    t.true(app.errorAt - cutAt <= 30 * 60_000, `${name} gave up after ${app.errorAt - cutAt} ms`);
    t.is(node.tcp.size, 0);
    t.is(node.nextDeadline(), Infinity);
  }
});

test('a peer that never answers the SYN: ETIMEDOUT, within the connect timeout', (t) => {
  const { a, net, client, conn } = pair({});
  net.cut = () => true;
  net.run();
  t.is(client.error, 'ETIMEDOUT');
  t.is(conn.state, TcpState.CLOSED);
  t.true(client.errorAt <= a.tcp.config.connectTimeout + 1, `gave up at ${client.errorAt} ms`);
  t.true(client.errorAt >= 60_000, `gave up at ${client.errorAt} ms`);
  t.is(a.tcp.size, 0);
  t.is(a.nextDeadline(), Infinity);
});

test('100% corruption: nothing is delivered, every packet is dropped and counted by a header or checksum check', (t) => {
  const { a, b, net, accept, client } = pair({ impairClient: { corrupt: 100 }, clientBytes: 1000 });
  net.run();
  t.is(client.error, 'ETIMEDOUT');
  t.is(accept.sinks.length, 0);
  t.is(b.counters.tcpPassiveOpens, 0);
  const shim = a.impaired!.stats;
  t.is(shim.outbound.corrupted, shim.outbound.packets);
  t.true(shim.outbound.packets >= 6, `${shim.outbound.packets} SYNs`);
  for (const [name, n] of [['client', a], ['server', b]] as const) {
    const drops = n.counters.drops;
    // Each packet that reached the host was dropped exactly once, for a reason a flipped
    // bit explains: the checksums, or a header field checked before them.
    t.is(n.counters.totalDrops, n.counters.ipIn, name);
    const allowed = [DropReason.IP_BAD_CHECKSUM, DropReason.TCP_BAD_CHECKSUM, DropReason.IP_BAD_VERSION, DropReason.IP_BAD_IHL, DropReason.IP_BAD_TOTAL_LENGTH, DropReason.TCP_BAD_DATA_OFFSET];
    const other = Object.entries(drops).filter(([k, v]) => v > 0 && !(allowed as string[]).includes(k));
    t.deepEqual(other, [], name);
    t.true(drops.ip_bad_checksum + drops.tcp_bad_checksum >= 0.6 * n.counters.ipIn, `${name}: ${JSON.stringify(drops)}`);
  }
  t.is(b.counters.ipIn, shim.outbound.packets);
  t.is(a.tcp.size + b.tcp.size, 0);
  t.is(a.nextDeadline(), Infinity);
});

test('corruption in the data phase: bad segments are dropped by checksum, the data still arrives intact', (t) => {
  const { a, b, net, accept, client } = pair({ impairClient: { corrupt: 20 }, clientBytes: 200_000, serverBytes: 200_000 });
  net.run(120_000);
  const server = accept.sinks[0]!;
  t.true(server.received.equals(payload(2, 1, 200_000)));
  t.true(client.received.equals(payload(2, 2, 200_000)));
  const checksumDrops = (n: SimNode) => n.counters.drops.ip_bad_checksum + n.counters.drops.tcp_bad_checksum;
  t.true(checksumDrops(a) > 10 && checksumDrops(b) > 10);
  t.true(a.impaired!.stats.outbound.corrupted > 0 && a.impaired!.stats.inbound.corrupted > 0);
});

test('heavy duplication and reordering: duplicate and stale segments never reach the application', (t) => {
  // One seeded scenario with half the packets duplicated and reordered, both ways, with
  // jitter; the scenario runner checks the bytes and the close (see properties.test.ts).
  const side = { recvBuffer: 65_536, sendBuffer: 65_536, windowScaling: true, timestamps: true, sack: true, noDelay: false, reader: null, closeCall: 'shutdown' as const };
  for (const seed of [1, 2, 3]) {
    const r = runScenario({
      seed,
      client: { ...side, bytes: 300_000 },
      server: { ...side, bytes: 300_000 },
      impair: { loss: 2, reorder: 50, dup: 50, corrupt: 0, delay: 5, jitter: 5 },
      shimOn: seed === 2 ? 'server' : 'client',
      latency: 2,
      mtu: 1500,
      close: 'client-first',
      abortAt: 0,
    });
    t.true(r.packets > 400);
  }
});

test('TSO: the sender hands its link 64 KiB packets, the link cuts them to the MTU, and under loss every byte still arrives', (t) => {
  // The client's link segments TCP (MemoryLink's software TSO, as a TUN device with
  // offloads): its stack sends packets of many MSS; the wire and the server see only
  // MTU-sized segments with correct checksums; 10% loss both ways (of whole TSO packets, on the way out) exercises SACK and
  // RACK over TSO-sent data (retransmissions go one MSS at a time).
  const { a, b, net, accept, client } = pair({ tso: true, impairClient: { loss: 10 }, clientBytes: 2_000_000, serverBytes: 100_000 });
  let largest = 0;
  const commit = a.mem.commit.bind(a.mem);
  a.mem.commit = (off: number, len: number, tcpSegSize = 0): void => {
    largest = Math.max(largest, len);
    commit(off, len, tcpSegSize);
  };
  let wireLargest = 0;
  const onTransmit = a.mem.onTransmit;
  a.mem.onTransmit = (pkt) => {
    wireLargest = Math.max(wireLargest, pkt.length);
    onTransmit?.(pkt);
  };
  net.run(300_000);
  const server = accept.sinks[0]!;
  t.true(server.received.equals(payload(2, 1, 2_000_000)), 'the server got every byte, in order');
  t.true(client.received.equals(payload(2, 2, 100_000)));
  t.true(largest > 10_000, `the stack handed the link a ${largest}-byte packet`);
  t.true(wireLargest <= 1500, `the wire carried at most ${wireLargest} bytes per packet`);
  t.is(b.counters.drops.tcp_bad_checksum, 0, 'every segment the link cut had a good checksum');
  t.true(a.counters.tcpRetransmits > 0, 'loss was repaired');
});
