/**
 * IPv4 input and output over a MemoryLink: every drop reason reached by a crafted
 * packet, echo replies, protocol unreachable, reassembly (in order, out of order,
 * overlapping, never completing) and fragmentation of large replies.
 */
import test from 'ava';
import { Counters, DropReason } from '../../src/counters';
import { IpLayer } from '../../src/ip/ip-layer';
import { MemoryLink } from '../../src/link/memory-link';
import { ICMP_HEADER_LEN, IcmpType, IcmpView, finishIcmpChecksum, writeIcmpHeader } from '../../src/wire/icmp';
import { IPV4_FLAG_MF, IpProtocol, Ipv4View, parseIpv4, writeIpv4Header } from '../../src/wire/ipv4';

const US = parseIpv4('10.77.0.2')!;
const PEER = parseIpv4('10.77.0.1')!;

function setup(mtu = 1500) {
  const link = new MemoryLink(mtu);
  const counters = new Counters();
  const ip = new IpLayer(link, counters, { address: US });
  let now = 0;
  link.start({ receive: (b, o, l) => ip.input(b, o, l, now), endOfBatch: () => link.flush() });
  return {
    link,
    counters,
    ip,
    at(t: number) {
      now = t;
      ip.poll(t);
      link.flush();
    },
  };
}

function echoRequest(id: number, seq: number, dataLen: number): Buffer {
  const icmp = Buffer.alloc(ICMP_HEADER_LEN + dataLen);
  writeIcmpHeader(icmp, 0, IcmpType.ECHO_REQUEST, 0, ((id << 16) | seq) >>> 0);
  for (let i = 0; i < dataLen; i++) icmp[ICMP_HEADER_LEN + i] = i & 0xff;
  finishIcmpChecksum(icmp, 0, icmp.length);
  return icmp;
}

function datagram(payload: Buffer, opts: { protocol?: number; src?: number; dst?: number; id?: number; flagsFrag?: number; ttl?: number } = {}): Buffer {
  const pkt = Buffer.alloc(20 + payload.length);
  writeIpv4Header(pkt, 0, pkt.length, opts.id ?? 1, opts.flagsFrag ?? 0, opts.ttl ?? 64, opts.protocol ?? IpProtocol.ICMP, opts.src ?? PEER, opts.dst ?? US);
  payload.copy(pkt, 20);
  return pkt;
}

/** Split `payload` into fragments of `size` bytes (a multiple of 8) of one datagram. */
function fragments(payload: Buffer, size: number, id: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < payload.length; off += size) {
    const part = payload.subarray(off, Math.min(off + size, payload.length));
    const more = off + size < payload.length;
    out.push(datagram(part, { id, flagsFrag: (more ? IPV4_FLAG_MF : 0) | (off >> 3) }));
  }
  return out;
}

test('echo request → echo reply with the same identifier, sequence and data', (t) => {
  const s = setup();
  s.link.inject(datagram(echoRequest(0x1234, 7, 56)));
  const [reply] = s.link.take();
  t.truthy(reply);
  const ip = new Ipv4View().wrap(reply!, 0, reply!.length);
  t.true(ip.headerChecksumOk());
  t.is(ip.src, US);
  t.is(ip.dst, PEER);
  t.is(ip.ttl, 64);
  const icmp = new IcmpView().wrap(reply!, 20, reply!.length - 20);
  t.is(icmp.type, IcmpType.ECHO_REPLY);
  t.is(icmp.identifier, 0x1234);
  t.is(icmp.sequence, 7);
  t.true(icmp.checksumOk());
  t.true(reply!.subarray(28).equals(echoRequest(0x1234, 7, 56).subarray(8)));
});

test('a 4000-byte echo arrives in fragments, is reassembled, and the reply is fragmented to the MTU', (t) => {
  const s = setup();
  const req = echoRequest(1, 1, 4000 - 28);
  const frags = fragments(req, 1480, 99);
  t.is(frags.length, 3);
  // Out of order, to exercise reassembly.
  s.link.inject(frags[2]!, frags[0]!, frags[1]!);
  t.is(s.counters.ipReassembled, 1);
  const out = s.link.take();
  t.is(out.length, 3);
  const parts: Buffer[] = [];
  let id = -1;
  for (const p of out) {
    const ip = new Ipv4View().wrap(p, 0, p.length);
    t.true(p.length <= 1500);
    t.true(ip.headerChecksumOk());
    if (id < 0) id = ip.identification;
    t.is(ip.identification, id);
    parts[ip.fragmentOffset] = p.subarray(20);
  }
  const whole = Buffer.concat(Object.keys(parts).map(Number).sort((a, b) => a - b).map((k) => parts[k]!));
  t.is(whole.length, req.length);
  const icmp = new IcmpView().wrap(whole, 0, whole.length);
  t.is(icmp.type, IcmpType.ECHO_REPLY);
  t.true(icmp.checksumOk());
  t.true(whole.subarray(8).equals(req.subarray(8)));
});

test('every IPv4 drop reason is reached by a crafted packet, and the next good packet is answered', (t) => {
  const s = setup();
  const good = datagram(echoRequest(1, 1, 8));
  const cases: [DropReason, Buffer][] = [];
  cases.push([DropReason.IP_TRUNCATED, good.subarray(0, 10)]);
  const v6 = Buffer.from(good);
  v6[0] = 0x65;
  cases.push([DropReason.IP_BAD_VERSION, v6]);
  const ihl = Buffer.from(good);
  ihl[0] = 0x44;
  cases.push([DropReason.IP_BAD_IHL, ihl]);
  const bigIhl = Buffer.from(good.subarray(0, 24));
  bigIhl[0] = 0x4f; // 60-byte header in a 24-byte packet
  cases.push([DropReason.IP_BAD_IHL, bigIhl]);
  const longer = Buffer.from(good);
  longer.writeUInt16BE(good.length + 100, 2);
  cases.push([DropReason.IP_BAD_TOTAL_LENGTH, longer]);
  const cksum = Buffer.from(good);
  cksum[10]! ^= 0xff;
  cases.push([DropReason.IP_BAD_CHECKSUM, cksum]);
  cases.push([DropReason.IP_TTL_ZERO, datagram(echoRequest(1, 1, 8), { ttl: 0 })]);
  cases.push([DropReason.IP_BAD_SOURCE, datagram(echoRequest(1, 1, 8), { src: parseIpv4('224.0.0.1')! })]);
  cases.push([DropReason.IP_NOT_FOR_US, datagram(echoRequest(1, 1, 8), { dst: parseIpv4('10.77.0.3')! })]);
  const icmpBad = echoRequest(1, 1, 8);
  icmpBad[9]! ^= 1;
  cases.push([DropReason.ICMP_BAD_CHECKSUM, datagram(icmpBad)]);
  cases.push([DropReason.ICMP_TRUNCATED, datagram(Buffer.alloc(4))]);
  for (const [reason, pkt] of cases) {
    const before = s.counters.drops[reason];
    t.notThrows(() => s.link.inject(pkt));
    t.is(s.counters.drops[reason], before + 1, reason);
    t.deepEqual(s.link.take(), [], `${reason}: nothing sent`);
  }
  s.link.inject(good);
  t.is(s.link.take().length, 1);
});

test('an unknown protocol draws ICMP protocol unreachable quoting the datagram', (t) => {
  const s = setup();
  const pkt = datagram(Buffer.from('hello udp-lite'), { protocol: 136 });
  s.link.inject(pkt);
  t.is(s.counters.drops.ip_unknown_protocol, 1);
  const [err] = s.link.take();
  const icmp = new IcmpView().wrap(err!, 20, err!.length - 20);
  t.is(icmp.type, IcmpType.DEST_UNREACHABLE);
  t.is(icmp.code, 2);
  t.true(icmp.checksumOk());
  t.true(err!.subarray(28).equals(pkt));
});

test('overlapping fragments discard the datagram; duplicates are ignored', (t) => {
  const s = setup();
  const req = echoRequest(1, 1, 3000);
  const [f0, f1, f2] = fragments(req, 1480, 5);
  s.link.inject(f0!, f0!);
  t.is(s.counters.drops.frag_duplicate, 1);
  // A fragment at offset 1472 overlaps the first one's last 8 bytes.
  const overlap = datagram(req.subarray(1472, 1480 + 1472), { id: 5, flagsFrag: IPV4_FLAG_MF | (1472 >> 3) });
  s.link.inject(overlap);
  t.is(s.counters.drops.frag_overlap, 1);
  t.is(s.ip.reassembler.pendingCount, 0);
  s.link.inject(f1!, f2!);
  t.deepEqual(s.link.take(), [], 'the rest never completes a datagram');
  t.is(s.ip.reassembler.pendingCount, 1);
});

test('fragments that never complete time out after 30 s with ICMP time exceeded', (t) => {
  const s = setup();
  const req = echoRequest(1, 1, 3000);
  const [f0] = fragments(req, 1480, 77);
  s.link.inject(f0!);
  t.is(s.ip.nextDeadline(), 30_000);
  s.at(29_999);
  t.deepEqual(s.link.take(), []);
  s.at(30_000);
  t.is(s.counters.drops.frag_timeout, 1);
  const [err] = s.link.take();
  const icmp = new IcmpView().wrap(err!, 20, err!.length - 20);
  t.is(icmp.type, IcmpType.TIME_EXCEEDED);
  t.is(icmp.code, 1);
  t.is(s.ip.reassembler.pendingCount, 0);
  t.is(s.ip.nextDeadline(), Infinity);
});

test('reassembly memory is bounded', (t) => {
  const link = new MemoryLink(1500);
  const counters = new Counters();
  const ip = new IpLayer(link, counters, { address: US, reassembly: { maxBytes: 64 * 1024, maxDatagrams: 4 } });
  link.start({ receive: (b, o, l) => ip.input(b, o, l, 0), endOfBatch: () => link.flush() });
  for (let id = 0; id < 100; id++) link.inject(datagram(Buffer.alloc(1480), { id, flagsFrag: IPV4_FLAG_MF }));
  t.true(ip.reassembler.pendingCount <= 4);
  t.true(ip.reassembler.memoryInUse <= 64 * 1024);
  t.true(counters.drops.frag_no_memory > 0);
});

test('random bytes never throw and are all counted', (t) => {
  const s = setup();
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 5000; i++) {
    const len = rnd() % 80;
    const pkt = Buffer.alloc(len);
    for (let j = 0; j < len; j++) pkt[j] = rnd();
    if (len > 0 && i % 2 === 0) pkt[0] = 0x45;
    t.notThrows(() => s.link.inject(pkt));
  }
  t.is(s.counters.ipIn, 5000);
});

test('fragments with a bad length or beyond 65535 bytes are dropped', (t) => {
  const s = setup();
  s.link.inject(datagram(Buffer.alloc(100), { id: 3, flagsFrag: IPV4_FLAG_MF }));
  t.is(s.counters.drops.frag_bad_length, 1, 'a non-final fragment must carry a multiple of 8 bytes');
  s.link.inject(datagram(Buffer.alloc(104), { id: 4, flagsFrag: 0x1fff }));
  t.is(s.counters.drops.frag_too_big, 1, '8191 × 8 + 104 bytes exceeds the 16-bit total length');
  t.deepEqual(s.link.take(), []);
});
