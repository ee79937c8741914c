// IPv4 header view and builder (RFC 791 §3.1) and the address helpers.
import test, { ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { ipv4Layout } from '../../src/wire/layout';
import {
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAG_OFFSET_MASK,
  IpProtocol,
  Ipv4View,
  ipv4ToString,
  parseCidr,
  parseIpv4,
  prefixToMask,
  sameSubnet,
  writeIpv4Header,
} from '../../src/wire/ipv4';

function holds<Ts>(t: ExecutionContext, property: fc.IRawProperty<Ts>): void {
  t.notThrows(() => fc.assert(property));
}

const u8 = fc.nat({ max: 0xff });
const u16 = fc.nat({ max: 0xffff });
const u32 = fc.oneof(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0xffffff00, max: 0xffffffff }));

const header = fc.record({
  totalLength: u16,
  identification: u16,
  flagsFragment: u16.map((v) => v & 0x7fff), // the reserved bit is zero on output
  ttl: u8,
  protocol: u8,
  src: u32,
  dst: u32,
  tos: u8,
  off: fc.nat({ max: 16 }),
});

test('writeIpv4Header then Ipv4View: every field round-trips and the checksum verifies', (t) => {
  const view = new Ipv4View();
  holds(t, fc.property(header, (h) => {
    const buf = Buffer.alloc(h.off + 20 + 4, 0xee);
    writeIpv4Header(buf, h.off, h.totalLength, h.identification, h.flagsFragment, h.ttl, h.protocol, h.src, h.dst, h.tos);
    const ip = view.wrap(buf, h.off, 20);
    assert.equal(ip.version, 4);
    assert.equal(ip.headerLength, 20);
    assert.equal(ip.tos, h.tos);
    assert.equal(ip.totalLength, h.totalLength);
    assert.equal(ip.identification, h.identification);
    assert.equal(ip.flagsFragment, h.flagsFragment);
    assert.equal(ip.dontFragment, (h.flagsFragment & IPV4_FLAG_DF) !== 0);
    assert.equal(ip.moreFragments, (h.flagsFragment & IPV4_FLAG_MF) !== 0);
    assert.equal(ip.fragmentOffset, (h.flagsFragment & IPV4_FRAG_OFFSET_MASK) * 8);
    assert.equal(ip.ttl, h.ttl);
    assert.equal(ip.protocol, h.protocol);
    assert.equal(ip.src, h.src);
    assert.equal(ip.dst, h.dst);
    assert.equal(ip.payloadOffset, h.off + 20);
    assert.ok(ip.headerChecksumOk());
    // Bytes around the header are untouched.
    assert.equal(buf.readUInt32BE(h.off + 20), 0xeeeeeeee);
    if (h.off > 0) assert.equal(buf[h.off - 1], 0xee);
  }));
});

test('writeIpv4Header writes every byte: the same header over 0x00- and 0xff-filled buffers', (t) => {
  holds(t, fc.property(header, (h) => {
    const a = Buffer.alloc(20, 0x00);
    const b = Buffer.alloc(20, 0xff);
    for (const buf of [a, b]) writeIpv4Header(buf, 0, h.totalLength, h.identification, h.flagsFragment, h.ttl, h.protocol, h.src, h.dst, h.tos);
    assert.deepEqual(a, b);
  }));
});

test('the view agrees with buffer-layout decoding of the declared header', (t) => {
  const view = new Ipv4View();
  holds(t, fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (bytes) => {
    const buf = Buffer.from(bytes);
    const d = ipv4Layout.decode(buf);
    const ip = view.wrap(buf, 0, 20);
    assert.equal(ip.version, d.versionIhl.version);
    assert.equal(ip.headerLength, d.versionIhl.ihl * 4);
    assert.equal(ip.tos, d.tos);
    assert.equal(ip.totalLength, d.totalLength);
    assert.equal(ip.identification, d.identification);
    assert.equal(ip.dontFragment, d.flagsFragment.dontFragment);
    assert.equal(ip.moreFragments, d.flagsFragment.moreFragments);
    assert.equal(ip.fragmentOffset, d.flagsFragment.fragmentOffset * 8);
    assert.equal(ip.ttl, d.ttl);
    assert.equal(ip.protocol, d.protocol);
    assert.equal(ip.checksum, d.checksum);
    assert.equal(ip.src, d.src);
    assert.equal(ip.dst, d.dst);
  }));
});

test('a header built with buffer-layout encode reads back through the view', (t) => {
  const view = new Ipv4View();
  holds(t, fc.property(header, fc.boolean(), fc.boolean(), fc.nat({ max: 0x1fff }), (h, df, mf, frag) => {
    const buf = Buffer.alloc(20);
    ipv4Layout.encode({
      versionIhl: { version: 4, ihl: 5 },
      tos: h.tos,
      totalLength: h.totalLength,
      identification: h.identification,
      flagsFragment: { reserved: 0, dontFragment: df, moreFragments: mf, fragmentOffset: frag },
      ttl: h.ttl,
      protocol: h.protocol,
      checksum: 0,
      src: h.src,
      dst: h.dst,
    }, buf);
    const ip = view.wrap(buf, 0, 20);
    assert.equal(ip.dontFragment, df);
    assert.equal(ip.moreFragments, mf);
    assert.equal(ip.fragmentOffset, frag * 8);
    assert.equal(ip.flagsFragment, (df ? IPV4_FLAG_DF : 0) | (mf ? IPV4_FLAG_MF : 0) | frag);
    assert.equal(ip.src, h.src);
    assert.equal(ip.dst, h.dst);
  }));
});

test('flipping any header byte breaks the header checksum', (t) => {
  const view = new Ipv4View();
  holds(t, fc.property(header, fc.nat({ max: 19 }), fc.integer({ min: 1, max: 255 }), (h, at, mask) => {
    const buf = Buffer.alloc(20);
    writeIpv4Header(buf, 0, h.totalLength, h.identification, h.flagsFragment, h.ttl, h.protocol, h.src, h.dst, h.tos);
    // Byte 0: flip only the version nibble, so the checksummed length (IHL) stays 20.
    const m = at === 0 ? (mask << 4) & 0xf0 || 0x10 : mask;
    buf[at]! ^= m;
    assert.equal(view.wrap(buf, 0, 20).headerChecksumOk(), false);
  }));
});

test('headerChecksumOk covers the options when IHL > 5', (t) => {
  const buf = Buffer.alloc(24);
  writeIpv4Header(buf, 0, 24, 1, 0, 64, IpProtocol.TCP, 0x0a4d0001, 0x0a4d0002);
  // Make it IHL 6 with a 4-byte option (NOP NOP NOP EOL), then fix the checksum by hand.
  buf[0] = 0x46;
  buf.writeUInt32BE(0x01010100, 20);
  buf.writeUInt16BE(0, 10);
  let s = 0;
  for (let i = 0; i < 24; i += 2) s += buf.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  buf.writeUInt16BE(~s & 0xffff, 10);
  const ip = new Ipv4View().wrap(buf, 0, 24);
  t.is(ip.headerLength, 24);
  t.is(ip.payloadOffset, 24);
  t.true(ip.headerChecksumOk());
  buf[22] = 0x02;
  t.false(ip.headerChecksumOk());
});

test('fragment fields: DF, MF and the offset in bytes', (t) => {
  const buf = Buffer.alloc(20);
  writeIpv4Header(buf, 0, 1500, 7, IPV4_FLAG_MF | (1480 >>> 3), 64, IpProtocol.UDP, 1, 2);
  const ip = new Ipv4View().wrap(buf, 0, 20);
  t.true(ip.moreFragments);
  t.false(ip.dontFragment);
  t.is(ip.fragmentOffset, 1480);
  writeIpv4Header(buf, 0, 1500, 7, IPV4_FLAG_DF, 64, IpProtocol.UDP, 1, 2);
  t.true(ip.dontFragment);
  t.false(ip.moreFragments);
  t.is(ip.fragmentOffset, 0);
  writeIpv4Header(buf, 0, 1500, 7, IPV4_FRAG_OFFSET_MASK, 64, IpProtocol.UDP, 1, 2);
  t.is(ip.fragmentOffset, 0x1fff * 8);
});

test('IpProtocol numbers', (t) => {
  t.deepEqual({ ...IpProtocol }, { ICMP: 1, TCP: 6, UDP: 17 });
});

// --- addresses ------------------------------------------------------------------------

test('parseIpv4 accepts strict dotted quads', (t) => {
  t.is(parseIpv4('10.77.0.2'), 0x0a4d0002);
  t.is(parseIpv4('0.0.0.0'), 0);
  t.is(parseIpv4('255.255.255.255'), 0xffffffff);
  t.is(parseIpv4('192.168.100.1'), 0xc0a86401);
});

test('parseIpv4 refuses anything else', (t) => {
  for (const s of [
    '', '10', '10.77', '10.77.0', '10.77.0.2.1', '10.77.0.256', '256.0.0.0', '10.77.0.-1',
    '10.77.0.02', '010.77.0.2', '00.0.0.0', '10.77.0.2 ', ' 10.77.0.2', '10.77.0.+2', '10..0.2',
    '10.77.0.', '0x0a.0.0.1', '1e1.0.0.1', '10.77.0.2/24', 'a.b.c.d', '1111.0.0.1', '10.77.0.2\n',
  ]) {
    t.is(parseIpv4(s), null, JSON.stringify(s));
  }
});

test('ipv4ToString and parseIpv4 are inverse over all uint32', (t) => {
  holds(t, fc.property(fc.nat({ max: 0xffffffff }), (a) => {
    assert.equal(parseIpv4(ipv4ToString(a)), a);
  }));
  t.is(ipv4ToString(0x0a4d0001), '10.77.0.1');
  t.is(ipv4ToString(0xffffffff), '255.255.255.255');
});

test('parseCidr needs an address and a prefix 0..32', (t) => {
  t.deepEqual(parseCidr('10.77.0.1/24'), { address: 0x0a4d0001, prefix: 24 });
  t.deepEqual(parseCidr('0.0.0.0/0'), { address: 0, prefix: 0 });
  t.deepEqual(parseCidr('10.0.0.1/32'), { address: 0x0a000001, prefix: 32 });
  for (const s of ['10.77.0.1', '10.77.0.1/', '10.77.0.1/33', '10.77.0.1/024', '10.77.0.1/-1', '10.77.0/24', '10.77.0.1/24/1', '10.77.0.1/2 4', '/24']) {
    t.is(parseCidr(s), null, s);
  }
});

test('prefixToMask and sameSubnet', (t) => {
  t.is(prefixToMask(0), 0);
  t.is(prefixToMask(1), 0x80000000);
  t.is(prefixToMask(24), 0xffffff00);
  t.is(prefixToMask(31), 0xfffffffe);
  t.is(prefixToMask(32), 0xffffffff);
  for (let p = 0; p <= 32; p++) {
    const m = prefixToMask(p);
    t.true(m >= 0 && m <= 0xffffffff);
    t.is(m.toString(2).replace(/0/g, '').length, p);
  }
  t.true(sameSubnet(0x0a4d0001, 0x0a4d0002, 24));
  t.false(sameSubnet(0x0a4d0001, 0x0a4d0102, 24));
  t.true(sameSubnet(0x0a4d0001, 0x0a4d0102, 16));
  t.true(sameSubnet(0x01020304, 0xfffefdfc, 0));
  t.false(sameSubnet(0x0a4d0001, 0x0a4d0002, 32));
});
