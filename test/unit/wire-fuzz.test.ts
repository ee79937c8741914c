// The packet path never throws (DESIGN.md): views over random bytes of random length,
// and builders given short buffers or out-of-range values.
import test, { ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { internetChecksum, onesComplementSum } from '../../src/wire/checksum';
import { IcmpView, finishIcmpChecksum, writeIcmpHeader } from '../../src/wire/icmp';
import { Ipv4View, writeIpv4Header } from '../../src/wire/ipv4';
import { TcpView, finishTcpChecksum, flagsToString, writeTcpHeader } from '../../src/wire/tcp';
import { TcpOptions, parseTcpOptions, tcpOptionsLength, writeTcpOptions } from '../../src/wire/tcp-options';

function holds<Ts>(t: ExecutionContext, property: fc.IRawProperty<Ts>): void {
  t.notThrows(() => fc.assert(property, { numRuns: 500 }));
}

function isUint(v: unknown, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Random bytes, an offset that may run past them, and a length of at most buf.length. */
const region = fc.tuple(fc.uint8Array({ maxLength: 80 }), fc.nat(), fc.nat()).map(([bytes, a, b]) => {
  const buf = Buffer.from(bytes);
  return { buf, off: a % (buf.length + 24), len: b % (buf.length + 1) };
});

const u32 = fc.nat({ max: 0xffffffff });

test('Ipv4View getters never throw and stay in range', (t) => {
  const v = new Ipv4View();
  holds(t, fc.property(region, ({ buf, off, len }) => {
    const ip = v.wrap(buf, off, len);
    assert.ok(isUint(ip.version, 15));
    assert.ok(isUint(ip.headerLength, 60));
    assert.ok(isUint(ip.tos, 255));
    assert.ok(isUint(ip.totalLength, 0xffff));
    assert.ok(isUint(ip.identification, 0xffff));
    assert.ok(isUint(ip.flagsFragment, 0xffff));
    assert.equal(typeof ip.dontFragment, 'boolean');
    assert.equal(typeof ip.moreFragments, 'boolean');
    assert.ok(isUint(ip.fragmentOffset, 0x1fff * 8));
    assert.ok(isUint(ip.ttl, 255));
    assert.ok(isUint(ip.protocol, 255));
    assert.ok(isUint(ip.checksum, 0xffff));
    assert.ok(isUint(ip.src, 0xffffffff));
    assert.ok(isUint(ip.dst, 0xffffffff));
    assert.ok(isUint(ip.payloadOffset - off, 60));
    assert.equal(typeof ip.headerChecksumOk(), 'boolean');
  }));
});

test('IcmpView getters never throw and stay in range', (t) => {
  const v = new IcmpView();
  holds(t, fc.property(region, ({ buf, off, len }) => {
    const icmp = v.wrap(buf, off, len);
    assert.ok(isUint(icmp.type, 255));
    assert.ok(isUint(icmp.code, 255));
    assert.ok(isUint(icmp.checksum, 0xffff));
    assert.ok(isUint(icmp.restOfHeader, 0xffffffff));
    assert.ok(isUint(icmp.identifier, 0xffff));
    assert.ok(isUint(icmp.sequence, 0xffff));
    assert.equal(typeof icmp.checksumOk(), 'boolean');
  }));
});

test('TcpView getters never throw and stay in range', (t) => {
  const v = new TcpView();
  const opts = new TcpOptions();
  holds(t, fc.property(region, u32, u32, ({ buf, off, len }, src, dst) => {
    const tcp = v.wrap(buf, off, len);
    assert.ok(isUint(tcp.srcPort, 0xffff));
    assert.ok(isUint(tcp.dstPort, 0xffff));
    assert.ok(isUint(tcp.seq, 0xffffffff));
    assert.ok(isUint(tcp.ack, 0xffffffff));
    assert.ok(isUint(tcp.headerLength, 60));
    assert.ok(isUint(tcp.flags, 255));
    assert.ok(isUint(tcp.window, 0xffff));
    assert.ok(isUint(tcp.checksum, 0xffff));
    assert.ok(isUint(tcp.urgentPointer, 0xffff));
    assert.equal(tcp.optionsOffset, off + 20);
    assert.equal(tcp.optionsLength, tcp.headerLength - 20);
    assert.equal(tcp.payloadOffset, off + tcp.headerLength);
    assert.equal(tcp.payloadLength, len - tcp.headerLength);
    assert.equal(typeof tcp.checksumOk(src, dst), 'boolean');
    // Options as the TCP input would parse them, even from a malformed header.
    assert.equal(typeof parseTcpOptions(buf, tcp.optionsOffset, tcp.optionsLength, opts), 'boolean');
    assert.equal(typeof flagsToString(tcp.flags), 'string');
  }));
});

test('checksums never throw, whatever the region', (t) => {
  holds(t, fc.property(region, fc.integer({ min: -8, max: 200 }), ({ buf, off }, len) => {
    assert.ok(isUint(onesComplementSum(buf, off, len), 0xffff));
    assert.ok(isUint(internetChecksum(buf, off, len), 0xffff));
  }));
});

test('builders never throw: short buffers and out-of-range values', (t) => {
  const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-1, 2 ** 32, 2 ** 53, NaN, Infinity, -Infinity));
  const opts = new TcpOptions();
  holds(t, fc.property(fc.nat({ max: 70 }), fc.nat({ max: 80 }), fc.array(anyNumber, { minLength: 10, maxLength: 10 }), (size, off, n) => {
    const buf = Buffer.alloc(size);
    const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0, i = 0, j = 0] = n;
    writeIpv4Header(buf, off, a, b, c, d, e, f, g, h);
    writeIcmpHeader(buf, off, a, b, c);
    finishIcmpChecksum(buf, off, size);
    writeTcpHeader(buf, off, a, b, c, d, e, f, g, h);
    finishTcpChecksum(buf, off, size, i, j);
    opts.reset();
    opts.mss = 1460;
    opts.windowScale = 7;
    opts.sackPermitted = true;
    opts.hasTimestamps = true;
    opts.addSackBlock(a, b);
    assert.equal(writeTcpOptions(buf, off, opts, true), tcpOptionsLength(opts, true));
  }));
});
