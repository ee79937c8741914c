/** copyBytes (wire/bytes.ts): the packet path's allocation-free copy behaves as Buffer#copy. */
import test from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { nativeCopyBytes } from '../../src/native';
import { copyBytes } from '../../src/wire/bytes';

test('copyBytes copies, clamps and counts as Buffer#copy does, for any offsets and lengths', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat({ max: 3000 }), fc.nat({ max: 3100 }), fc.nat({ max: 3100 }), fc.nat({ max: 4000 }), (bytes, dstSize, srcOff, dstOff, len) => {
      const src = Buffer.from(bytes);
      const a = Buffer.alloc(dstSize, 0xee);
      const b = Buffer.alloc(dstSize, 0xee);
      const n = copyBytes(src, srcOff, a, dstOff, len);
      const m = srcOff >= src.length || dstOff >= b.length || len === 0 ? 0 : src.copy(b, dstOff, srcOff, srcOff + len);
      assert.equal(n, m);
      assert.ok(a.equals(b));
    }),
    { numRuns: 500 },
  );
  t.pass(nativeCopyBytes() === null ? 'JavaScript fallback (addon not built)' : 'the addon copy');
});

test('copyBytes within one buffer moves overlapping bytes correctly (memmove)', (t) => {
  const buf = Buffer.from('abcdefghij');
  copyBytes(buf, 0, buf, 2, 6);
  t.is(buf.toString(), 'ababcdefij');
});
