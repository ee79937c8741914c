// RFC 1071 checksum: a worked example, a plain 16-bit reference, and its algebra.
import test, { ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { NATIVE_MIN, foldSum, internetChecksum, jsOnesComplementSum, onesComplementSum, pseudoHeaderSum } from '../../src/wire/checksum';
import { nativeOnesSum } from '../../src/native';
import { pseudoHeaderLayout } from '../../src/wire/layout';

/** The textbook definition, one 16-bit word at a time, end-around carry each step. */
function reference(bytes: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < len; i += 2) {
    const hi = bytes[off + i] ?? 0;
    const lo = i + 1 < len ? (bytes[off + i + 1] ?? 0) : 0;
    sum += (hi << 8) | lo;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return sum;
}

const u32 = fc.nat({ max: 0xffffffff });

/** Run a fast-check property; a counterexample fails the test with fast-check's report. */
function holds<Ts>(t: ExecutionContext, property: fc.IRawProperty<Ts>): void {
  t.notThrows(() => fc.assert(property));
}

test('RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', (t) => {
  const b = Buffer.from('0001f203f4f5f6f7', 'hex');
  t.is(onesComplementSum(b, 0, 8), 0xddf2);
  t.is(internetChecksum(b, 0, 8), 0x220d);
});

test('odd length pads with a zero byte on the right', (t) => {
  t.is(onesComplementSum(Buffer.from([0xab]), 0, 1), 0xab00);
  t.is(onesComplementSum(Buffer.from([0x12, 0x34, 0x56]), 0, 3), 0x1234 + 0x5600);
});

test('carries wrap around: ffff + 0001 = 0001; all-ones stays 0xffff', (t) => {
  t.is(onesComplementSum(Buffer.from('ffff0001', 'hex'), 0, 4), 0x0001);
  t.is(onesComplementSum(Buffer.alloc(64, 0xff), 0, 64), 0xffff);
  t.is(onesComplementSum(Buffer.alloc(64), 0, 64), 0);
  t.is(onesComplementSum(Buffer.alloc(0), 0, 0, 0x1234), 0x1234);
});

test('equals the 16-bit reference for any bytes, offset, length and initial value', (t) => {
  holds(t, fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), fc.nat({ max: 0xffff }), (bytes, a, b, initial) => {
    const off = bytes.length === 0 ? 0 : a % (bytes.length + 1);
    const len = b % (bytes.length - off + 1);
    const buf = Buffer.from(bytes);
    assert.equal(onesComplementSum(buf, off, len, initial), reference(bytes, off, len, initial));
    assert.equal(internetChecksum(buf, off, len, initial), ~reference(bytes, off, len, initial) & 0xffff);
  }));
});

test('the addon\'s checksum (used from NATIVE_MIN bytes) equals the JavaScript one, including odd offsets, lengths and bytes past the end', (t) => {
  const native = nativeOnesSum();
  if (native === null) return t.pass('the addon is not built: JavaScript only');
  holds(t, fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.nat({ max: 4000 }), fc.nat({ max: 0xffff }), (bytes, a, len, initial) => {
    const buf = Buffer.from(bytes);
    const off = bytes.length === 0 ? 0 : a % (bytes.length + 1);
    // len may run past the end: both read missing bytes as zero.
    assert.equal(native(buf, off, len, initial), jsOnesComplementSum(buf, off, len, initial));
  }));
  const big = Buffer.alloc(65535, 0xff);
  t.is(native(big, 0, big.length, 0xffff), jsOnesComplementSum(big, 0, big.length, 0xffff));
  t.true(NATIVE_MIN > 0);
});

test('a region longer than one fold chunk (3 MiB) still equals the reference', (t) => {
  const buf = Buffer.alloc(3 * 1024 * 1024 + 5);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + (i >>> 9)) & 0xff;
  buf.fill(0xff, 0, 1 << 20); // the largest words, to push the running sum up
  t.is(onesComplementSum(buf, 1, buf.length - 1), reference(buf, 1, buf.length - 1));
});

test('storing the checksum makes the region verify (sum 0xffff)', (t) => {
  holds(t, fc.property(fc.uint8Array({ minLength: 2, maxLength: 200 }), fc.nat(), (bytes, at) => {
    const buf = Buffer.from(bytes);
    const pos = (at % (buf.length >>> 1)) * 2; // an even offset for the checksum field
    buf.writeUInt16BE(0, pos);
    buf.writeUInt16BE(internetChecksum(buf, 0, buf.length), pos);
    assert.equal(onesComplementSum(buf, 0, buf.length), 0xffff);
  }));
});

test('sums compose: sum(a ++ b) = sum(b, initial = sum(a)) when a has even length', (t) => {
  holds(t, fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (a, b) => {
    const even = a.length & ~1;
    const buf = Buffer.concat([Buffer.from(a.subarray(0, even)), Buffer.from(b)]);
    const first = onesComplementSum(buf, 0, even);
    assert.equal(onesComplementSum(buf, even, b.length, first), onesComplementSum(buf, 0, buf.length));
  }));
});

test('pseudoHeaderSum equals the sum of the 12-byte pseudo header (RFC 9293 §3.1)', (t) => {
  holds(t, fc.property(u32, u32, fc.nat({ max: 255 }), fc.nat({ max: 0xffff }), (src, dst, protocol, length) => {
    const b = Buffer.alloc(pseudoHeaderLayout.span);
    pseudoHeaderLayout.encode({ src, dst, zero: 0, protocol, length }, b);
    assert.equal(pseudoHeaderSum(src, dst, protocol, length), onesComplementSum(b, 0, b.length));
  }));
});

test('foldSum keeps the value modulo 0xffff and returns at most 16 bits', (t) => {
  holds(t, fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (s) => {
    const f = foldSum(s);
    assert.ok(f >= 0 && f <= 0xffff);
    assert.equal(f % 0xffff, s % 0xffff);
    assert.equal(f === 0, s === 0);
  }));
});

test('never throws when the region runs past the buffer: missing bytes read as 0', (t) => {
  const b = Buffer.from([1, 2, 3]);
  t.is(onesComplementSum(b, 0, 10), 0x0102 + 0x0300);
  t.is(onesComplementSum(b, 5, 10), 0);
  t.is(onesComplementSum(b, 0, -4), 0);
});
