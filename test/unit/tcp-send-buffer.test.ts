import test from 'ava';
import fc from 'fast-check';
import { SendBuffer } from '../../src/tcp/send-buffer';

function bytes(from: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) & 0xff;
  return b;
}

function out(sb: SendBuffer, offset: number, len: number): Buffer {
  const dst = Buffer.alloc(len);
  sb.copyOut(offset, dst, 0, len);
  return dst;
}

test('construction: capacity, empty, validation', (t) => {
  const sb = new SendBuffer(16);
  t.is(sb.capacity, 16);
  t.is(sb.length, 0);
  t.is(sb.free, 16);
  t.throws(() => new SendBuffer(0), { instanceOf: RangeError });
  t.throws(() => new SendBuffer(1.5), { instanceOf: RangeError });
  t.throws(() => new SendBuffer(-1), { instanceOf: RangeError });
});

test('write accepts at most free bytes; defaults off = 0, len = rest', (t) => {
  const sb = new SendBuffer(10);
  t.is(sb.write(bytes(0, 4)), 4);
  t.is(sb.length, 4);
  t.is(sb.free, 6);
  t.is(sb.write(bytes(4, 10)), 6);
  t.is(sb.length, 10);
  t.is(sb.free, 0);
  t.is(sb.write(bytes(0, 3)), 0);
  t.deepEqual(out(sb, 0, 10), bytes(0, 10));
  t.is(sb.write(Buffer.alloc(0)), 0);
});

test('write honours off and len', (t) => {
  const sb = new SendBuffer(10);
  const src = bytes(100, 20);
  t.is(sb.write(src, 5), 10);
  t.deepEqual(out(sb, 0, 10), bytes(105, 10));
  const sb2 = new SendBuffer(10);
  t.is(sb2.write(src, 2, 3), 3);
  t.deepEqual(out(sb2, 0, 3), bytes(102, 3));
  t.is(sb2.write(src, 19, 5), 1, 'len is limited by the source');
  t.deepEqual(out(sb2, 3, 1), bytes(119, 1));
  t.is(sb2.write(src, 20), 0);
});

test('copyOut at an offset and into a destination offset; consume drops the front', (t) => {
  const sb = new SendBuffer(32);
  sb.write(bytes(0, 20));
  t.deepEqual(out(sb, 5, 10), bytes(5, 10));
  const dst = Buffer.alloc(8, 0xee);
  sb.copyOut(18, dst, 3, 2);
  t.deepEqual(dst, Buffer.from([0xee, 0xee, 0xee, 18, 19, 0xee, 0xee, 0xee]));
  sb.consume(7);
  t.is(sb.length, 13);
  t.is(sb.free, 19);
  t.deepEqual(out(sb, 0, 13), bytes(7, 13));
  sb.copyOut(13, Buffer.alloc(0), 0, 0); // empty read at the end is fine
  sb.consume(13);
  t.is(sb.length, 0);
  t.is(sb.free, 32);
});

test('the ring wraps: writes, copyOut and consume across the end', (t) => {
  const sb = new SendBuffer(8);
  sb.write(bytes(0, 6));
  sb.consume(5); // head at ring index 5, one byte held
  t.is(sb.write(bytes(6, 7)), 7); // bytes 6..12 occupy ring 6,7,0..4
  t.is(sb.length, 8);
  t.is(sb.free, 0);
  t.deepEqual(out(sb, 0, 8), bytes(5, 8));
  t.deepEqual(out(sb, 2, 3), bytes(7, 3)); // ring 7, 0, 1
  t.deepEqual(out(sb, 3, 5), bytes(8, 5)); // entirely after the wrap
  sb.consume(4); // head crosses the end
  t.deepEqual(out(sb, 0, 4), bytes(9, 4));
  t.is(sb.write(bytes(13, 4)), 4);
  t.deepEqual(out(sb, 0, 8), bytes(9, 8));
});

test('out-of-range copyOut and consume throw RangeError (caller bugs)', (t) => {
  const sb = new SendBuffer(8);
  sb.write(bytes(0, 4));
  t.throws(() => sb.copyOut(0, Buffer.alloc(5), 0, 5), { instanceOf: RangeError });
  t.throws(() => sb.copyOut(3, Buffer.alloc(2), 0, 2), { instanceOf: RangeError });
  t.throws(() => sb.copyOut(-1, Buffer.alloc(1), 0, 1), { instanceOf: RangeError });
  t.throws(() => sb.copyOut(0, Buffer.alloc(2), 1, 2), { instanceOf: RangeError });
  t.throws(() => sb.consume(5), { instanceOf: RangeError });
  t.throws(() => sb.consume(-1), { instanceOf: RangeError });
  t.is(sb.length, 4);
});

test('clear empties the buffer', (t) => {
  const sb = new SendBuffer(8);
  sb.write(bytes(0, 6));
  sb.consume(3);
  sb.clear();
  t.is(sb.length, 0);
  t.is(sb.free, 8);
  sb.write(bytes(50, 8));
  t.deepEqual(out(sb, 0, 8), bytes(50, 8));
});

type Op =
  | { kind: 'write'; data: Uint8Array; off: number; len: number }
  | { kind: 'consume'; frac: number }
  | { kind: 'copy'; a: number; b: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc
    .record({ data: fc.uint8Array({ maxLength: 40 }), o: fc.nat(), l: fc.nat() })
    .map(({ data, o, l }) => {
      const off = data.length === 0 ? 0 : o % (data.length + 1);
      return { kind: 'write' as const, data, off, len: l % (data.length - off + 1) };
    }),
  fc.double({ min: 0, max: 1, noNaN: true }).map((frac) => ({ kind: 'consume' as const, frac })),
  fc.record({ a: fc.double({ min: 0, max: 1, noNaN: true }), b: fc.double({ min: 0, max: 1, noNaN: true }) }).map(
    ({ a, b }) => ({ kind: 'copy' as const, a, b }),
  ),
);

test('property: random writes, consumes and copyOuts match a Buffer.concat model', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.array(opArb, { maxLength: 120 }), (capacity, ops) => {
      const sb = new SendBuffer(capacity);
      let model = Buffer.alloc(0);
      for (const op of ops) {
        if (op.kind === 'write') {
          const src = Buffer.from(op.data);
          const accepted = sb.write(src, op.off, op.len);
          const expect = Math.min(op.len, capacity - model.length);
          if (accepted !== expect) return false;
          model = Buffer.concat([model, src.subarray(op.off, op.off + accepted)]);
        } else if (op.kind === 'consume') {
          const n = Math.floor(op.frac * model.length);
          sb.consume(n);
          model = model.subarray(n);
        } else {
          const offset = Math.floor(op.a * model.length);
          const len = Math.floor(op.b * (model.length - offset));
          const dst = Buffer.alloc(len + 2, 0x5a);
          sb.copyOut(offset, dst, 1, len);
          if (!dst.subarray(1, 1 + len).equals(model.subarray(offset, offset + len))) return false;
          if (dst[0] !== 0x5a || dst[len + 1] !== 0x5a) return false; // nothing written outside
        }
        if (sb.length !== model.length || sb.free !== capacity - model.length) return false;
      }
      return out(sb, 0, sb.length).equals(model);
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('storage is taken as data arrives and given back when the buffer empties', (t) => {
  const b = new SendBuffer(256 * 1024);
  t.is(b.storage, 0, 'an idle connection holds no storage');
  b.write(Buffer.alloc(1000, 1));
  t.is(b.storage, 4096);
  b.write(Buffer.alloc(100_000, 2));
  t.true(b.storage >= 101_000 && b.storage <= 256 * 1024);
  const out = Buffer.alloc(101_000);
  b.copyOut(0, out, 0, 101_000);
  t.is(out[999], 1);
  t.is(out[1000], 2);
  b.consume(101_000);
  t.is(b.storage, 0);
});
