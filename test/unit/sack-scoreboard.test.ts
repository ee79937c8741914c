import test from 'ava';
import fc from 'fast-check';
import { SackScoreboard } from '../../src/tcp/sack-scoreboard';
import { seqAdd } from '../../src/tcp/seq';

test('blocks merge, clip to (SND.UNA, SND.NXT], and advance with the cumulative ACK', (t) => {
  const sb = new SackScoreboard();
  const una = 0xffff_ff00; // across the wrap
  const nxt = seqAdd(una, 10_000);
  t.is(sb.add(seqAdd(una, 1000), seqAdd(una, 2000), una, nxt), 1000);
  t.is(sb.add(seqAdd(una, 3000), seqAdd(una, 4000), una, nxt), 1000);
  t.is(sb.add(seqAdd(una, 1500), seqAdd(una, 3500), una, nxt), 1000, 'only the new middle counts');
  t.is(sb.rangeCount, 1);
  t.is(sb.sacked, 3000);
  t.is(sb.add(seqAdd(una, -500), seqAdd(una, 100), una, nxt), 100, 'clipped at SND.UNA');
  t.is(sb.add(seqAdd(una, 9900), seqAdd(una, 20_000), una, nxt), 100, 'clipped at SND.NXT');
  t.true(sb.isSacked(seqAdd(una, 1000)));
  t.false(sb.isSacked(seqAdd(una, 500)));
  t.is(sb.sackedAbove(seqAdd(una, 2000)), 2000 + 100);
  sb.advance(seqAdd(una, 2500));
  t.is(sb.sacked, 1500 + 100);
  const hole = { start: 0, end: 0 };
  t.true(sb.nextHole(seqAdd(una, 2500), nxt, hole));
  t.is(hole.start, seqAdd(una, 4000));
  t.is(hole.end, seqAdd(una, 9900));
});

test('lossEdge: unSACKed bytes below it have more than (DupThresh − 1) × SMSS SACKed above', (t) => {
  const sb = new SackScoreboard();
  const una = 1000;
  const nxt = 1000 + 100 * 100;
  sb.add(1000 + 500, 1000 + 600, una, nxt);
  sb.add(1000 + 800, 1000 + 900, una, nxt);
  t.is(sb.lossEdge(100, 3, una), una, 'only 200 bytes SACKed: nothing lost yet');
  sb.add(1000 + 950, 1000 + 1000, una, nxt);
  t.is(sb.lossEdge(100, 3, una), 1000 + 500);
  t.is(sb.holesBetween(una, 1000 + 500), 500);
});

test('sacked bytes always equal the sum of the ranges (property)', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.array(fc.tuple(fc.integer({ min: -100, max: 5000 }), fc.integer({ min: 0, max: 800 })), { maxLength: 40 }), fc.integer({ min: 0, max: 4000 }), (una, blocks, adv) => {
      const sb = new SackScoreboard();
      const nxt = seqAdd(una, 4000);
      const model = new Set<number>();
      for (const [off, len] of blocks) {
        sb.add(seqAdd(una, off), seqAdd(una, off + len), una, nxt);
        for (let i = Math.max(off, 0); i < Math.min(off + len, 4000); i++) model.add(i);
      }
      if (sb.sacked !== model.size) return false;
      sb.advance(seqAdd(una, adv));
      let above = 0;
      for (const i of model) if (i >= adv) above++;
      return sb.sacked === above;
    }),
  );
  t.pass();
});
