// ICMP message view and builder (RFC 792).
import test, { ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { icmpLayout } from '../../src/wire/layout';
import {
  ICMP_HEADER_LEN,
  IcmpType,
  IcmpUnreachableCode,
  IcmpView,
  finishIcmpChecksum,
  writeIcmpHeader,
} from '../../src/wire/icmp';

function holds<Ts>(t: ExecutionContext, property: fc.IRawProperty<Ts>): void {
  t.notThrows(() => fc.assert(property));
}

const message = fc.record({
  type: fc.nat({ max: 255 }),
  code: fc.nat({ max: 255 }),
  rest: fc.nat({ max: 0xffffffff }),
  data: fc.uint8Array({ maxLength: 100 }),
  off: fc.nat({ max: 9 }),
});

function build(m: { type: number; code: number; rest: number; data: Uint8Array; off: number }): Buffer {
  const buf = Buffer.alloc(m.off + ICMP_HEADER_LEN + m.data.length, 0xee);
  writeIcmpHeader(buf, m.off, m.type, m.code, m.rest);
  buf.set(m.data, m.off + ICMP_HEADER_LEN);
  finishIcmpChecksum(buf, m.off, ICMP_HEADER_LEN + m.data.length);
  return buf;
}

test('constants (RFC 792)', (t) => {
  t.is(ICMP_HEADER_LEN, 8);
  t.deepEqual({ ...IcmpType }, { ECHO_REPLY: 0, DEST_UNREACHABLE: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11, PARAMETER_PROBLEM: 12 });
  t.deepEqual({ ...IcmpUnreachableCode }, { NET: 0, HOST: 1, PROTOCOL: 2, PORT: 3, FRAGMENTATION_NEEDED: 4 });
});

test('build then view: fields round-trip and the checksum verifies', (t) => {
  const view = new IcmpView();
  holds(t, fc.property(message, (m) => {
    const buf = build(m);
    const icmp = view.wrap(buf, m.off, ICMP_HEADER_LEN + m.data.length);
    assert.equal(icmp.type, m.type);
    assert.equal(icmp.code, m.code);
    assert.equal(icmp.restOfHeader, m.rest);
    assert.equal(icmp.identifier, m.rest >>> 16);
    assert.equal(icmp.sequence, m.rest & 0xffff);
    assert.ok(icmp.checksumOk());
    assert.deepEqual(icmpLayout.decode(buf, m.off), { type: m.type, code: m.code, checksum: icmp.checksum, restOfHeader: m.rest });
    if (m.off > 0) assert.equal(buf[m.off - 1], 0xee);
  }));
});

test('writeIcmpHeader writes all 8 bytes, checksum zero', (t) => {
  holds(t, fc.property(message, (m) => {
    const a = Buffer.alloc(8, 0x00);
    const b = Buffer.alloc(8, 0xff);
    writeIcmpHeader(a, 0, m.type, m.code, m.rest);
    writeIcmpHeader(b, 0, m.type, m.code, m.rest);
    assert.deepEqual(a, b);
    assert.equal(a.readUInt16BE(2), 0);
  }));
});

test('flipping any byte of the message breaks the checksum', (t) => {
  const view = new IcmpView();
  holds(t, fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, mask) => {
    const buf = build(m);
    const len = ICMP_HEADER_LEN + m.data.length;
    buf[m.off + (at % len)]! ^= mask;
    assert.equal(view.wrap(buf, m.off, len).checksumOk(), false);
  }));
});

test('finishIcmpChecksum ignores a stale checksum field', (t) => {
  const buf = Buffer.alloc(12);
  writeIcmpHeader(buf, 0, IcmpType.ECHO_REPLY, 0, 0x12340001);
  buf.write('ping', 8);
  buf.writeUInt16BE(0xbeef, 2);
  finishIcmpChecksum(buf, 0, 12);
  t.true(new IcmpView().wrap(buf, 0, 12).checksumOk());
});

test('echo fields: identifier and sequence from the rest of header', (t) => {
  const buf = Buffer.alloc(8);
  writeIcmpHeader(buf, 0, IcmpType.ECHO_REQUEST, 0, (0x4242 << 16) | 7);
  finishIcmpChecksum(buf, 0, 8);
  const v = new IcmpView().wrap(buf, 0, 8);
  t.is(v.type, IcmpType.ECHO_REQUEST);
  t.is(v.identifier, 0x4242);
  t.is(v.sequence, 7);
  t.true(v.checksumOk());
});
