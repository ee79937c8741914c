// TCP header view and builder (RFC 9293 §3.1).
import test, { ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { tcpLayout } from '../../src/wire/layout';
import {
  TCP_MAX_HEADER_LEN,
  TCP_MIN_HEADER_LEN,
  TcpFlag,
  TcpView,
  finishTcpChecksum,
  flagsToString,
  writeTcpHeader,
} from '../../src/wire/tcp';

function holds<Ts>(t: ExecutionContext, property: fc.IRawProperty<Ts>): void {
  t.notThrows(() => fc.assert(property));
}

const u16 = fc.nat({ max: 0xffff });
/** Any uint32, often within 256 of the 2^32 wrap. */
const u32 = fc.oneof(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0xffffff00, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff, 0x80000000));

const segment = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  optionWords: fc.nat({ max: 10 }),
  flags: fc.nat({ max: 0xff }),
  window: u16,
  urgentPointer: u16,
  payload: fc.uint8Array({ maxLength: 120 }),
  src: u32,
  dst: u32,
  off: fc.nat({ max: 7 }),
});
type Segment = typeof segment extends fc.Arbitrary<infer T> ? T : never;

function build(s: Segment): { buf: Buffer; len: number } {
  const hlen = TCP_MIN_HEADER_LEN + s.optionWords * 4;
  const len = hlen + s.payload.length;
  const buf = Buffer.alloc(s.off + len + 3, 0xee);
  writeTcpHeader(buf, s.off, s.srcPort, s.dstPort, s.seq, s.ack, hlen, s.flags, s.window, s.urgentPointer);
  buf.fill(0x01 /* NOP options */, s.off + TCP_MIN_HEADER_LEN, s.off + hlen);
  buf.set(s.payload, s.off + hlen);
  finishTcpChecksum(buf, s.off, len, s.src, s.dst);
  return { buf, len };
}

test('TcpFlag bits (RFC 9293 §3.1, RFC 3168)', (t) => {
  t.deepEqual({ ...TcpFlag }, { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 });
  t.is(TCP_MIN_HEADER_LEN, 20);
  t.is(TCP_MAX_HEADER_LEN, 60);
});

test('build then view: every field round-trips, seq and ack near 2^32 included', (t) => {
  const view = new TcpView();
  holds(t, fc.property(segment, (s) => {
    const { buf, len } = build(s);
    const hlen = TCP_MIN_HEADER_LEN + s.optionWords * 4;
    const tcp = view.wrap(buf, s.off, len);
    assert.equal(tcp.srcPort, s.srcPort);
    assert.equal(tcp.dstPort, s.dstPort);
    assert.equal(tcp.seq, s.seq);
    assert.equal(tcp.ack, s.ack);
    assert.equal(tcp.headerLength, hlen);
    assert.equal(tcp.flags, s.flags);
    assert.equal(tcp.window, s.window);
    assert.equal(tcp.urgentPointer, s.urgentPointer);
    assert.equal(tcp.optionsOffset, s.off + 20);
    assert.equal(tcp.optionsLength, hlen - 20);
    assert.equal(tcp.payloadOffset, s.off + hlen);
    assert.equal(tcp.payloadLength, s.payload.length);
    assert.deepEqual(buf.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength), Buffer.from(s.payload));
    assert.ok(tcp.checksumOk(s.src, s.dst));
    // The reserved bits are zero, and nothing outside the segment was touched.
    assert.equal(buf[s.off + 12]! & 0x0f, 0);
    assert.equal(buf[s.off + len], 0xee);
    if (s.off > 0) assert.equal(buf[s.off - 1], 0xee);
  }));
});

test('the view agrees with buffer-layout decoding of the declared header', (t) => {
  const view = new TcpView();
  holds(t, fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (bytes) => {
    const buf = Buffer.from(bytes);
    const d = tcpLayout.decode(buf);
    const tcp = view.wrap(buf, 0, 20);
    assert.equal(tcp.srcPort, d.srcPort);
    assert.equal(tcp.dstPort, d.dstPort);
    assert.equal(tcp.seq, d.seq);
    assert.equal(tcp.ack, d.ack);
    assert.equal(tcp.headerLength, d.dataOffsetReserved.dataOffset * 4);
    assert.equal(tcp.flags, d.flags);
    assert.equal(tcp.window, d.window);
    assert.equal(tcp.checksum, d.checksum);
    assert.equal(tcp.urgentPointer, d.urgentPointer);
  }));
});

test('writeTcpHeader matches buffer-layout encode and writes all 20 bytes', (t) => {
  holds(t, fc.property(segment, (s) => {
    const hlen = TCP_MIN_HEADER_LEN + s.optionWords * 4;
    const ours = [Buffer.alloc(20, 0), Buffer.alloc(20, 0xff)];
    for (const b of ours) writeTcpHeader(b, 0, s.srcPort, s.dstPort, s.seq, s.ack, hlen, s.flags, s.window, s.urgentPointer);
    const theirs = Buffer.alloc(20);
    tcpLayout.encode({
      srcPort: s.srcPort, dstPort: s.dstPort, seq: s.seq, ack: s.ack,
      dataOffsetReserved: { dataOffset: hlen / 4, reserved: 0 },
      flags: s.flags, window: s.window, checksum: 0, urgentPointer: s.urgentPointer,
    }, theirs);
    assert.deepEqual(ours[0], theirs);
    assert.deepEqual(ours[1], theirs);
  }));
});

test('flipping any byte of the segment breaks the checksum', (t) => {
  const view = new TcpView();
  holds(t, fc.property(segment, fc.nat(), fc.integer({ min: 1, max: 255 }), (s, at, mask) => {
    const { buf, len } = build(s);
    buf[s.off + (at % len)]! ^= mask;
    assert.equal(view.wrap(buf, s.off, len).checksumOk(s.src, s.dst), false);
  }));
});

test('the checksum covers the pseudo header: other addresses fail', (t) => {
  const view = new TcpView();
  holds(t, fc.property(segment, fc.nat({ max: 31 }), fc.boolean(), (s, bit, which) => {
    const { buf, len } = build(s);
    const tcp = view.wrap(buf, s.off, len);
    const flip = (1 << bit) >>> 0;
    if (which) assert.equal(tcp.checksumOk((s.src ^ flip) >>> 0, s.dst), false);
    else assert.equal(tcp.checksumOk(s.src, (s.dst ^ flip) >>> 0), false);
    // The segment length is in the pseudo header too (the byte after the segment is 0xee).
    assert.equal(view.wrap(buf, s.off, len + 1).checksumOk(s.src, s.dst), false);
  }));
});

test('finishTcpChecksum overwrites a stale checksum', (t) => {
  const buf = Buffer.alloc(25);
  writeTcpHeader(buf, 0, 80, 40000, 1, 2, 20, TcpFlag.PSH | TcpFlag.ACK, 1000, 0);
  buf.write('hello', 20);
  buf.writeUInt16BE(0xdead, 16);
  finishTcpChecksum(buf, 0, 25, 0x0a4d0002, 0x0a4d0001);
  t.true(new TcpView().wrap(buf, 0, 25).checksumOk(0x0a4d0002, 0x0a4d0001));
});

test('flagsToString', (t) => {
  t.is(flagsToString(TcpFlag.SYN | TcpFlag.ACK), 'SYN,ACK');
  t.is(flagsToString(TcpFlag.FIN | TcpFlag.PSH | TcpFlag.ACK), 'FIN,PSH,ACK');
  t.is(flagsToString(TcpFlag.RST), 'RST');
  t.is(flagsToString(0), '');
  t.is(flagsToString(0xff), 'FIN,SYN,RST,PSH,ACK,URG,ECE,CWR');
  t.is(flagsToString(0x100 | TcpFlag.SYN), 'SYN');
});
