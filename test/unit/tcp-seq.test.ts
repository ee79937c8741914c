import test from 'ava';
import fc from 'fast-check';
import {
  SEQ_MODULUS,
  seqAdd,
  seqDiff,
  seqGeq,
  seqGt,
  seqInRange,
  seqInRangeIncl,
  seqLeq,
  seqLt,
  seqMax,
  seqMin,
} from '../../src/tcp/seq';

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** 0 < n < 2^31: the distances TCP may compare. */
const fwd = fc.integer({ min: 1, max: 0x7fff_ffff });

test('seqAdd wraps modulo 2^32 in both directions', (t) => {
  t.is(SEQ_MODULUS, 2 ** 32);
  t.is(seqAdd(0xffff_ffff, 1), 0);
  t.is(seqAdd(0xffff_fff0, 0x20), 0x10);
  t.is(seqAdd(0, -1), 0xffff_ffff);
  t.is(seqAdd(5, -10), 0xffff_fffb);
  t.is(seqAdd(123, 0), 123);
  t.is(seqAdd(0x8000_0000, 0x8000_0000), 0);
});

test('seqDiff is the signed distance across the wrap', (t) => {
  t.is(seqDiff(0x10, 0xffff_fff0), 0x20);
  t.is(seqDiff(0xffff_fff0, 0x10), -0x20);
  t.is(seqDiff(7, 7), 0);
  t.is(seqDiff(0, 0xffff_ffff), 1);
  t.is(seqDiff(0x7fff_ffff, 0), 0x7fff_ffff);
  t.is(seqDiff(0x8000_0000, 0), -0x8000_0000);
});

test('comparisons across the 2^32 wrap', (t) => {
  const before = 0xffff_fffe;
  const after = 0x0000_0003;
  t.true(seqLt(before, after));
  t.true(seqLeq(before, after));
  t.false(seqGt(before, after));
  t.false(seqGeq(before, after));
  t.true(seqGt(after, before));
  t.true(seqGeq(after, before));
  t.true(seqLeq(after, after));
  t.true(seqGeq(after, after));
  t.false(seqLt(after, after));
  t.false(seqGt(after, after));
  t.is(seqMax(before, after), after);
  t.is(seqMax(after, before), after);
  t.is(seqMin(before, after), before);
  t.is(seqMin(after, before), before);
});

test('seqInRange is half-open and modular', (t) => {
  const lo = 0xffff_fff0;
  const hi = 0x10;
  t.true(seqInRange(lo, lo, hi));
  t.true(seqInRange(0xffff_ffff, lo, hi));
  t.true(seqInRange(0, lo, hi));
  t.true(seqInRange(0xf, lo, hi));
  t.false(seqInRange(hi, lo, hi));
  t.false(seqInRange(lo - 1, lo, hi));
  t.false(seqInRange(0x8000_0000, lo, hi));
  // An empty range holds nothing.
  t.false(seqInRange(lo, lo, lo));
  t.false(seqInRange(0, 0, 0));
});

test('seqInRangeIncl includes both ends', (t) => {
  const lo = 0xffff_fffe;
  const hi = 1;
  t.true(seqInRangeIncl(lo, lo, hi));
  t.true(seqInRangeIncl(0xffff_ffff, lo, hi));
  t.true(seqInRangeIncl(0, lo, hi));
  t.true(seqInRangeIncl(hi, lo, hi));
  t.false(seqInRangeIncl(2, lo, hi));
  t.false(seqInRangeIncl(lo - 1, lo, hi));
  t.true(seqInRangeIncl(5, 5, 5));
  t.false(seqInRangeIncl(6, 5, 5));
  // RFC 9293 §3.10.7.4: SND.UNA < SEG.ACK =< SND.NXT.
  const una = 0xffff_ffff;
  const nxt = 0x100;
  t.false(seqInRangeIncl(una, seqAdd(una, 1), nxt));
  t.true(seqInRangeIncl(0, seqAdd(una, 1), nxt));
  t.true(seqInRangeIncl(nxt, seqAdd(una, 1), nxt));
});

test('property: results are uint32 and seqAdd/seqDiff invert each other', (t) => {
  fc.assert(
    fc.property(u32, fc.integer({ min: -0x7fff_ffff, max: 0x7fff_ffff }), (a, n) => {
      const b = seqAdd(a, n);
      return Number.isInteger(b) && b >= 0 && b < 2 ** 32 && seqDiff(b, a) === n && seqAdd(b, -n) === a;
    }),
  );
  t.pass();
});

test('property: a < a + n for 0 < n < 2^31, and the relations agree', (t) => {
  fc.assert(
    fc.property(u32, fwd, (a, n) => {
      const b = seqAdd(a, n);
      return (
        seqLt(a, b) &&
        seqLeq(a, b) &&
        seqGt(b, a) &&
        seqGeq(b, a) &&
        !seqLt(b, a) &&
        !seqGeq(a, b) &&
        seqMax(a, b) === b &&
        seqMin(a, b) === a &&
        seqDiff(b, a) === n &&
        seqDiff(a, b) === -n
      );
    }),
  );
  t.pass();
});

test('property: antisymmetry and totality for pairs less than 2^31 apart', (t) => {
  fc.assert(
    fc.property(u32, fc.integer({ min: -0x7fff_ffff, max: 0x7fff_ffff }), (a, n) => {
      const b = seqAdd(a, n);
      // Exactly one of <, =, > holds.
      const lt = seqLt(a, b);
      const gt = seqGt(a, b);
      const eq = a === b;
      if (Number(lt) + Number(gt) + Number(eq) !== 1) return false;
      // a <= b and b <= a only when equal.
      if (seqLeq(a, b) && seqLeq(b, a) && a !== b) return false;
      return seqLt(a, b) === seqGt(b, a) && seqLeq(a, b) === seqGeq(b, a);
    }),
  );
  t.pass();
});

test('property: transitivity within a half-space', (t) => {
  fc.assert(
    fc.property(u32, fc.integer({ min: 1, max: 0x3fff_ffff }), fc.integer({ min: 1, max: 0x3fff_ffff }), (a, m, n) => {
      const b = seqAdd(a, m);
      const c = seqAdd(b, n);
      return seqLt(a, b) && seqLt(b, c) && seqLt(a, c);
    }),
  );
  t.pass();
});

test('property: seqInRange matches lo <= x < hi on offsets from lo', (t) => {
  fc.assert(
    fc.property(u32, fc.integer({ min: 0, max: 0x7fff_ffff }), fc.integer({ min: -0x7fff_ffff, max: 0x7fff_ffff }), (lo, len, d) => {
      const hi = seqAdd(lo, len);
      const x = seqAdd(lo, d);
      const inside = d >= 0 && d < len;
      return (
        seqInRange(x, lo, hi) === inside &&
        seqInRangeIncl(x, lo, hi) === (d >= 0 && d <= len) &&
        // The same as the pairwise comparisons while the range is under 2^31.
        seqInRange(x, lo, hi) === (seqLeq(lo, x) && seqLt(x, hi))
      );
    }),
  );
  t.pass();
});
