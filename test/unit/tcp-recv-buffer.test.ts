import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_MAX_OOO_RANGES, RecvBuffer } from '../../src/tcp/recv-buffer';

/** A recognisable stream: byte i is i mod 251 (a prime, so no short period lines up). */
function stream(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

const S = stream(1000);

/** Deliver stream bytes [from, to) when RCV.NXT is at stream position `nxt`. */
function seg(rb: RecvBuffer, nxt: number, from: number, to: number): number {
  return rb.write(from - nxt, S, from, to - from);
}

function ranges(rb: RecvBuffer): number[] {
  const out = new Uint32Array(2 * 64);
  const n = rb.oooRanges(out);
  return Array.from(out.subarray(0, 2 * n));
}

test('construction and defaults', (t) => {
  const rb = new RecvBuffer(100);
  t.is(rb.capacity, 100);
  t.is(rb.maxRanges, DEFAULT_MAX_OOO_RANGES);
  t.is(DEFAULT_MAX_OOO_RANGES, 32);
  t.is(rb.readable, 0);
  t.is(rb.window, 100);
  t.is(rb.outOfOrderBytes, 0);
  t.deepEqual(ranges(rb), []);
  t.throws(() => new RecvBuffer(0), { instanceOf: RangeError });
  t.throws(() => new RecvBuffer(10, -1), { instanceOf: RangeError });
  t.throws(() => new RecvBuffer(10, 1.5), { instanceOf: RangeError });
});

test('in-order data grows readable and shrinks the window; read frees it', (t) => {
  const rb = new RecvBuffer(100);
  t.is(seg(rb, 0, 0, 30), 30);
  t.is(rb.readable, 30);
  t.is(rb.window, 70);
  t.is(seg(rb, 30, 30, 50), 20);
  t.is(rb.readable, 50);
  const dst = Buffer.alloc(64);
  t.is(rb.read(dst, 4, 10), 10);
  t.deepEqual(dst.subarray(4, 14), S.subarray(0, 10));
  t.is(rb.readable, 40);
  t.is(rb.window, 60);
  const b = rb.readBuffer(1000);
  t.is(b.length, 40);
  t.deepEqual(b, S.subarray(10, 50));
  t.is(rb.readable, 0);
  t.is(rb.window, 100);
  t.is(rb.readBuffer(10).length, 0);
  t.is(rb.read(dst, 0, 10), 0);
});

test('read is limited by max and by the destination', (t) => {
  const rb = new RecvBuffer(100);
  seg(rb, 0, 0, 50);
  t.is(rb.read(Buffer.alloc(5), 0, 100), 5);
  t.is(rb.read(Buffer.alloc(5), 3, 100), 2);
  t.is(rb.readBuffer(4).length, 4);
  t.is(rb.readable, 39);
});

test('out-of-order data waits, then the gap fills and RCV.NXT jumps', (t) => {
  const rb = new RecvBuffer(100);
  t.is(seg(rb, 0, 20, 30), 0);
  t.is(seg(rb, 0, 40, 50), 0);
  t.is(rb.readable, 0);
  t.is(rb.window, 100, 'out-of-order bytes do not shrink the window');
  t.is(rb.outOfOrderBytes, 20);
  t.deepEqual(ranges(rb), [20, 30, 40, 50]);
  t.is(seg(rb, 0, 0, 10), 10);
  t.deepEqual(ranges(rb), [10, 20, 30, 40]);
  // Filling [10, 20) joins [20, 30) as well.
  t.is(seg(rb, 10, 10, 20), 20);
  t.is(rb.readable, 30);
  t.deepEqual(ranges(rb), [10, 20]);
  t.is(rb.outOfOrderBytes, 10);
  t.is(seg(rb, 30, 30, 40), 20);
  t.is(rb.readable, 50);
  t.is(rb.outOfOrderBytes, 0);
  t.deepEqual(rb.readBuffer(100), S.subarray(0, 50));
});

test('out-of-order ranges merge on overlap and on adjacency', (t) => {
  const rb = new RecvBuffer(200);
  seg(rb, 0, 10, 20);
  seg(rb, 0, 30, 40);
  seg(rb, 0, 50, 60);
  t.deepEqual(ranges(rb), [10, 20, 30, 40, 50, 60]);
  seg(rb, 0, 20, 30); // touches both neighbours
  t.deepEqual(ranges(rb), [10, 40, 50, 60]);
  seg(rb, 0, 35, 55); // overlaps two ranges
  t.deepEqual(ranges(rb), [10, 60]);
  seg(rb, 0, 5, 70); // covers everything
  t.deepEqual(ranges(rb), [5, 70]);
  seg(rb, 0, 80, 90);
  seg(rb, 0, 75, 78); // lands in a gap: a new range in the middle
  t.deepEqual(ranges(rb), [5, 70, 75, 78, 80, 90]);
  t.is(rb.outOfOrderBytes, 65 + 3 + 10);
  t.is(seg(rb, 0, 0, 5), 70);
  t.deepEqual(rb.readBuffer(200), S.subarray(0, 70));
  t.deepEqual(ranges(rb), [5, 8, 10, 20]);
});

test('duplicates change nothing', (t) => {
  const rb = new RecvBuffer(100);
  t.is(seg(rb, 0, 0, 10), 10);
  t.is(seg(rb, 10, 0, 10), 0, 'entirely before RCV.NXT');
  t.is(seg(rb, 10, 5, 10), 0);
  seg(rb, 10, 20, 30);
  t.is(seg(rb, 10, 20, 30), 0);
  t.is(seg(rb, 10, 22, 25), 0);
  t.deepEqual(ranges(rb), [10, 20]);
  t.is(rb.readable, 10);
  t.is(rb.outOfOrderBytes, 10);
});

test('a segment starting before RCV.NXT is trimmed to the new part', (t) => {
  const rb = new RecvBuffer(100);
  seg(rb, 0, 0, 10);
  t.is(seg(rb, 10, 5, 25), 15);
  t.is(rb.readable, 25);
  t.deepEqual(rb.readBuffer(100), S.subarray(0, 25));
});

test('the window limits what is stored', (t) => {
  const rb = new RecvBuffer(50);
  t.is(seg(rb, 0, 0, 80), 50, 'only the window is taken');
  t.is(rb.window, 0);
  t.is(seg(rb, 50, 50, 60), 0, 'a zero window takes nothing');
  t.is(rb.readBuffer(20).length, 20);
  t.is(rb.window, 20);
  t.is(seg(rb, 50, 75, 90), 0, 'wholly beyond the window');
  t.deepEqual(ranges(rb), []);
  t.is(seg(rb, 50, 60, 90), 0, 'out of order, trimmed to the window');
  t.deepEqual(ranges(rb), [10, 20]);
  t.is(seg(rb, 50, 50, 60), 20);
  t.is(rb.window, 0);
  t.deepEqual(rb.readBuffer(100), S.subarray(20, 70));
});

test('data wraps around the end of the ring', (t) => {
  const rb = new RecvBuffer(16);
  seg(rb, 0, 0, 12);
  t.deepEqual(rb.readBuffer(10), S.subarray(0, 10)); // head at ring index 10
  // An out-of-order segment that straddles the end of the ring.
  t.is(seg(rb, 12, 14, 24), 0);
  t.deepEqual(ranges(rb), [2, 12]);
  t.is(seg(rb, 12, 12, 14), 12);
  t.is(rb.readable, 14);
  t.is(rb.window, 2);
  const dst = Buffer.alloc(14);
  t.is(rb.read(dst, 0, 14), 14);
  t.deepEqual(dst, S.subarray(10, 24));
  t.is(rb.readable, 0);
});

test('a new out-of-order range beyond maxRanges is dropped; merging ones are not', (t) => {
  const rb = new RecvBuffer(200, 2);
  seg(rb, 0, 10, 20);
  seg(rb, 0, 30, 40);
  t.is(seg(rb, 0, 50, 60), 0);
  t.deepEqual(ranges(rb), [10, 20, 30, 40], 'the third range was dropped');
  t.is(rb.rangeOverflowDrops, 1);
  t.is(rb.outOfOrderBytes, 20);
  seg(rb, 0, 40, 45); // extends a range: accepted
  seg(rb, 0, 15, 35); // merges two: accepted
  t.deepEqual(ranges(rb), [10, 45]);
  t.is(rb.rangeOverflowDrops, 1);
  // In-order data is always accepted.
  t.is(seg(rb, 0, 0, 10), 45);
  t.deepEqual(rb.readBuffer(100), S.subarray(0, 45));

  const none = new RecvBuffer(100, 0);
  t.is(seg(none, 0, 5, 10), 0);
  t.is(none.rangeOverflowDrops, 1);
  t.is(seg(none, 0, 0, 5), 5);
});

test('oooRanges honours the size of out; mostRecentRange follows the last segment', (t) => {
  const rb = new RecvBuffer(200);
  seg(rb, 0, 10, 20);
  seg(rb, 0, 50, 60);
  seg(rb, 0, 30, 40);
  const two = new Uint32Array(2);
  t.is(rb.oooRanges(two), 1);
  t.deepEqual(Array.from(two), [10, 20]);
  const out = new Uint32Array(2);
  t.true(rb.mostRecentRange(out));
  t.deepEqual(Array.from(out), [30, 40]);
  seg(rb, 0, 40, 50); // now [30, 60), and the last write was at 40
  t.true(rb.mostRecentRange(out));
  t.deepEqual(Array.from(out), [30, 60]);
  seg(rb, 0, 0, 10); // in order: offsets shift with RCV.NXT
  t.is(rb.readable, 20);
  t.true(rb.mostRecentRange(out));
  t.deepEqual(Array.from(out), [10, 40]);
  seg(rb, 20, 20, 30); // the last out-of-order data became in order
  t.false(rb.mostRecentRange(out));
  t.false(new RecvBuffer(10).mostRecentRange(out));
});

test('clear forgets everything', (t) => {
  const rb = new RecvBuffer(64);
  seg(rb, 0, 0, 10);
  seg(rb, 10, 20, 30);
  rb.clear();
  t.is(rb.readable, 0);
  t.is(rb.window, 64);
  t.is(rb.outOfOrderBytes, 0);
  t.deepEqual(ranges(rb), []);
  t.is(rb.write(0, S, 100, 64), 64);
  t.deepEqual(rb.readBuffer(64), S.subarray(100, 164));
});

test('write never reads past the end of src', (t) => {
  const rb = new RecvBuffer(64);
  t.is(rb.write(0, Buffer.from([1, 2, 3]), 1, 10), 2);
  t.deepEqual(rb.readBuffer(10), Buffer.from([2, 3]));
});

/**
 * Reference model: which stream bytes are held past RCV.NXT, as a bitmap over the whole
 * stream, with the same drop rule (a segment that would make more than maxRanges ranges
 * is dropped).
 */
class Model {
  base = 0; // stream position of the first unread byte
  nxt = 0; // RCV.NXT as a stream position
  have: Uint8Array;
  lastOoo = -1;
  drops = 0;

  constructor(
    readonly capacity: number,
    readonly maxRanges: number,
    len: number,
  ) {
    this.have = new Uint8Array(len + capacity + 1);
  }

  rangesOf(have: Uint8Array): number[] {
    const out: number[] = [];
    const end = this.base + this.capacity;
    let p = this.nxt;
    while (p < end) {
      if (have[p]) {
        const s = p;
        while (p < end && have[p]) p++;
        out.push(s - this.nxt, p - this.nxt);
      } else p++;
    }
    return out;
  }

  write(from: number, to: number): number {
    const s = Math.max(from, this.nxt);
    const e = Math.min(to, this.base + this.capacity);
    if (e <= s) return 0;
    if (s === this.nxt) {
      for (let p = s; p < e; p++) this.have[p] = 1;
      const old = this.nxt;
      while (this.have[this.nxt]) this.nxt++;
      return this.nxt - old;
    }
    const next = this.have.slice();
    for (let p = s; p < e; p++) next[p] = 1;
    if (this.rangesOf(next).length / 2 > this.maxRanges) {
      this.drops++;
      return 0;
    }
    this.have = next;
    this.lastOoo = s;
    return 0;
  }

  mostRecent(): number[] | null {
    if (this.lastOoo < this.nxt) return null;
    const r = this.rangesOf(this.have);
    for (let i = 0; i < r.length; i += 2) {
      if (r[i]! + this.nxt <= this.lastOoo && this.lastOoo < r[i + 1]! + this.nxt) return [r[i]!, r[i + 1]!];
    }
    return null;
  }
}

type Step = { kind: 'seg'; index: number } | { kind: 'read'; n: number };

test('property: random segments in random order with duplicates reassemble the stream', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 48 }),
      fc.integer({ min: 0, max: 6 }),
      fc.integer({ min: 1, max: 300 }),
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 60 }),
      fc.array(
        fc.oneof(
          { weight: 3, arbitrary: fc.nat().map((index): Step => ({ kind: 'seg', index })) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }).map((n): Step => ({ kind: 'read', n })) },
        ),
        { maxLength: 200 },
      ),
      (capacity, maxRanges, total, cuts, steps) => {
        const data = S.subarray(0, total);
        // Cut the stream into segments; then add overlapping segments spanning two cuts.
        const segs: Array<[number, number]> = [];
        let p = 0;
        for (let i = 0; p < total; i++) {
          const len = cuts[i % cuts.length]!;
          segs.push([p, Math.min(total, p + len)]);
          p += len;
        }
        const n = segs.length;
        for (let i = 0; i + 1 < n; i += 3) {
          const [a, b] = segs[i]!;
          segs.push([a + ((b - a) >> 1), segs[i + 1]![1]]);
        }

        const rb = new RecvBuffer(capacity, maxRanges);
        const model = new Model(capacity, maxRanges, total);
        const got: Buffer[] = [];
        const oooOut = new Uint32Array(2 * (maxRanges + 1));
        const recent = new Uint32Array(2);

        const check = (): boolean => {
          if (rb.readable !== model.nxt - model.base) return false;
          if (rb.window !== capacity - rb.readable) return false;
          const want = model.rangesOf(model.have);
          const count = rb.oooRanges(oooOut);
          if (count * 2 !== want.length || rb.oooRangeCount !== count) return false;
          for (let i = 0; i < want.length; i++) if (oooOut[i] !== want[i]) return false;
          let bytes = 0;
          for (let i = 0; i < want.length; i += 2) bytes += want[i + 1]! - want[i]!;
          if (rb.outOfOrderBytes !== bytes) return false;
          if (count > maxRanges || rb.rangeOverflowDrops !== model.drops) return false;
          const mr = model.mostRecent();
          const ok = rb.mostRecentRange(recent);
          if (ok !== (mr !== null)) return false;
          if (mr && (recent[0] !== mr[0] || recent[1] !== mr[1])) return false;
          return true;
        };
        const read = (max: number): boolean => {
          const b = rb.readBuffer(max);
          if (b.length !== Math.min(max, model.nxt - model.base)) return false;
          if (!b.equals(data.subarray(model.base, model.base + b.length))) return false;
          model.base += b.length;
          got.push(b);
          return true;
        };
        const deliver = (from: number, to: number): boolean => {
          const grew = rb.write(from - model.nxt, data, from, to - from);
          return grew === model.write(from, to);
        };

        for (const step of steps) {
          if (step.kind === 'seg') {
            const [from, to] = segs[step.index % segs.length]!;
            if (!deliver(from, to)) return false;
          } else if (!read(step.n)) return false;
          if (!check()) return false;
        }
        // Retransmission: the sender fills from RCV.NXT until everything is read.
        for (let guard = 0; model.base < total; guard++) {
          if (guard > 10 * total + 10) return false;
          if (model.nxt < total && !deliver(model.nxt, Math.min(total, model.nxt + 7))) return false;
          if (!check()) return false;
          if (!read(5)) return false;
          if (!check()) return false;
        }
        return Buffer.concat(got).equals(data) && rb.readable === 0;
      },
    ),
    { numRuns: 400 },
  );
  t.pass();
});

test('storage grows with out-of-order data and is given back when everything is read', (t) => {
  const r = new RecvBuffer(256 * 1024);
  t.is(r.storage, 0, 'an idle connection holds no storage');
  r.write(200_000, Buffer.alloc(1000, 9), 0, 1000); // far ahead
  t.true(r.storage >= 201_000);
  t.is(r.write(0, Buffer.alloc(200_000, 3), 0, 200_000), 201_000);
  const all = r.readBuffer(201_000);
  t.is(all[199_999], 3);
  t.is(all[200_000], 9);
  t.is(r.storage, 0);
});
