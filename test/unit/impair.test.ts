/**
 * The impairment shim (src/link/impair.ts): the spec parser, the PRNG, and what the
 * link does to packets in each direction, at virtual times.
 */
import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_REORDER_HOLD_MS, ImpairSpec, ImpairSpecError, ImpairedLink, NO_IMPAIRMENT, Sfc32, formatImpairSpec, isImpairing, parseImpairSpec } from '../../src/link/impair';
import { LinkReceiver } from '../../src/link/link';
import { MemoryLink } from '../../src/link/memory-link';

// ---------------------------------------------------------------------------------------
// Spec

test('parses the documented example', (t) => {
  t.deepEqual(parseImpairSpec('loss=5%,reorder=2%,dup=1%,corrupt=0.5%,delay=10ms,jitter=5ms,seed=42'), {
    loss: 5,
    reorder: 2,
    dup: 1,
    corrupt: 0.5,
    delay: 10,
    jitter: 5,
    seed: 42,
  });
});

test('keys left out are zero, seed undefined; spaces around items are fine', (t) => {
  t.deepEqual(parseImpairSpec('loss=30%'), { ...NO_IMPAIRMENT, loss: 30 });
  t.deepEqual(parseImpairSpec(' delay = 1.5s , jitter=500us '), { ...NO_IMPAIRMENT, delay: 1500, jitter: 0.5 });
  t.deepEqual(parseImpairSpec('loss=0%,corrupt=100%,seed=4294967295'), { ...NO_IMPAIRMENT, corrupt: 100, seed: 4294967295 });
  t.false(isImpairing(parseImpairSpec('seed=3')));
  t.true(isImpairing(parseImpairSpec('jitter=1us')));
});

test('format is canonical and parses back to the same spec', (t) => {
  t.is(formatImpairSpec(parseImpairSpec('seed=7,jitter=5ms,loss=5%,delay=0.01s')), 'loss=5%,delay=10ms,jitter=5ms,seed=7');
  t.is(formatImpairSpec(NO_IMPAIRMENT), 'loss=0%');
  t.is(formatImpairSpec({ ...NO_IMPAIRMENT, delay: 5e-7, jitter: 1e21 }), 'delay=0.0000005ms,jitter=1000000000000000000000ms');
  const pct = fc.oneof(fc.constant(0), fc.constant(100), fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 100, noNaN: true }));
  const dur = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60_000 }), fc.double({ min: 0, max: 60_000, noNaN: true }));
  const spec = fc.record(
    { loss: pct, reorder: pct, dup: pct, corrupt: pct, delay: dur, jitter: dur, seed: fc.integer({ min: 0, max: 0xffff_ffff }) },
    { requiredKeys: ['loss', 'reorder', 'dup', 'corrupt', 'delay', 'jitter'] },
  );
  fc.assert(
    fc.property(spec, (s) => {
      const text = formatImpairSpec(s);
      t.deepEqual(parseImpairSpec(text), s, text);
      t.is(formatImpairSpec(parseImpairSpec(text)), text);
    }),
    { seed: 4, numRuns: 500 },
  );
});

test('bad specs: one clear error naming the key and the expected form', (t) => {
  const cases: [string, string | null, RegExp][] = [
    ['', null, /empty spec.*loss=5%/],
    ['loss=5', 'loss', /loss=5 is not a percentage from 0% to 100% \(expected e\.g\. loss=5%\)/],
    ['loss=101%', 'loss', /loss=101% is not a percentage/],
    ['loss=-1%', 'loss', /loss=-1% is not a percentage/],
    ['dup=abc%', 'dup', /dup=abc%/],
    ['reorder=1e2%', 'reorder', /reorder=1e2%/],
    ['corrupt=', 'corrupt', /corrupt= is not a percentage/],
    ['delay=10', 'delay', /delay=10 is not a non-negative duration with a unit us, ms or s \(expected e\.g\. delay=10ms\)/],
    ['delay=-5ms', 'delay', /delay=-5ms/],
    ['jitter=5m', 'jitter', /jitter=5m .*jitter=10ms/],
    ['jitter=Infinityms', 'jitter', /jitter=Infinityms/],
    ['seed=-1', 'seed', /seed=-1 is not an integer from 0 to 4294967295/],
    ['seed=1.5', 'seed', /seed=1\.5/],
    ['seed=4294967296', 'seed', /seed=4294967296/],
    ['foo=1', 'foo', /unknown key "foo" \(known keys: loss, reorder, dup, corrupt, delay, jitter, seed\)/],
    ['loss', 'loss', /"loss" is not key=value/],
    ['loss=5%,', null, /"" is not key=value/],
    ['loss=5%,loss=6%', 'loss', /loss is given twice/],
  ];
  for (const [spec, key, message] of cases) {
    const e = t.throws(() => parseImpairSpec(spec), { instanceOf: ImpairSpecError, message }, spec);
    t.is(e?.key, key, spec);
    t.is(e?.code, 'EIMPAIRSPEC');
    t.regex(e?.message ?? '', /^--impair: /);
  }
});

// ---------------------------------------------------------------------------------------
// PRNG

test('sfc32: the same seed gives the same stream, streams and seeds differ, output is uniform', (t) => {
  const take = (r: Sfc32, n: number) => Array.from({ length: n }, () => r.nextU32());
  t.deepEqual(take(new Sfc32(42), 100), take(new Sfc32(42), 100));
  t.notDeepEqual(take(new Sfc32(42), 100), take(new Sfc32(43), 100));
  t.notDeepEqual(take(new Sfc32(42, 1), 100), take(new Sfc32(42, 2), 100));
  const r = new Sfc32(1);
  const buckets = new Array<number>(16).fill(0);
  const n = 160_000;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = r.next();
    t.true(x >= 0 && x < 1);
    sum += x;
    buckets[Math.floor(x * 16)]!++;
  }
  t.true(Math.abs(sum / n - 0.5) < 0.005);
  // Chi-squared with 15 degrees of freedom: 37.7 is the 0.1% critical value.
  const expected = n / 16;
  const chi2 = buckets.reduce((s, b) => s + (b - expected) ** 2 / expected, 0);
  t.true(chi2 < 37.7, `chi2 ${chi2}`);
});

// ---------------------------------------------------------------------------------------
// The link

/** A shim over a MemoryLink, a virtual clock, and what came out of each side. */
class Rig implements LinkReceiver {
  now = 0;
  readonly inner = new MemoryLink(1500, 8);
  readonly link: ImpairedLink;
  /** Inbound packets that reached the receiver (copies), and the batches they came in. */
  readonly received: Buffer[] = [];
  batches = 0;
  readonly scheduled: number[] = [];

  constructor(spec: Partial<ImpairSpec>, seed = 1) {
    this.link = new ImpairedLink(this.inner, { ...NO_IMPAIRMENT, ...spec }, { clock: () => this.now, schedule: (at) => this.scheduled.push(at), seed });
    this.link.start(this);
  }

  receive(buf: Buffer, off: number, len: number): void {
    this.received.push(Buffer.from(buf.subarray(off, off + len)));
  }

  endOfBatch(): void {
    this.batches++;
  }

  /** Send packets outbound the way the stack does: reserve, write in place, commit; then flush. */
  send(...pkts: Buffer[]): void {
    for (const p of pkts) {
      const off = this.link.reserve(p.length);
      p.copy(this.link.txBuf, off);
      this.link.commit(off, p.length);
    }
    this.link.flush();
  }

  /** Packets that reached the inner link (the wire). */
  get sent(): Buffer[] {
    return this.inner.sent;
  }

  at(t: number): void {
    this.now = t;
    this.link.poll(t);
  }
}

/** Packet `i`: its number in the first 4 bytes, then filler that depends on it. */
function packet(i: number, len = 100): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt32BE(i, 0);
  for (let j = 4; j < len; j++) b[j] = (i * 31 + j * 7) & 0xff;
  return b;
}

const ids = (pkts: Buffer[]): number[] => pkts.map((p) => p.readUInt32BE(0));
const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

test('no impairment: packets pass synchronously both ways, untouched, nothing held or scheduled', (t) => {
  const r = new Rig({});
  r.send(packet(0), packet(1));
  t.deepEqual(ids(r.sent), [0, 1]);
  t.true(r.sent[1]!.equals(packet(1)));
  r.inner.inject(packet(2), packet(3));
  t.deepEqual(ids(r.received), [2, 3]);
  t.is(r.batches, 1);
  t.is(r.link.heldCount, 0);
  t.is(r.link.nextDeadline(), Infinity);
  t.deepEqual(r.scheduled, []);
  t.deepEqual(r.link.stats.outbound, { packets: 2, dropped: 0, duplicated: 0, corrupted: 0, reordered: 0, delayed: 0 });
});

test('the same seed gives the same fate to the same traffic; another seed does not', (t) => {
  const spec = { loss: 20, dup: 10, corrupt: 10, reorder: 10, delay: 5, jitter: 5 };
  const run = (seed: number) => {
    const r = new Rig(spec, seed);
    for (let i = 0; i < 500; i++) {
      r.send(packet(i));
      r.inner.inject(packet(100_000 + i));
      r.at(i);
    }
    r.at(1000);
    return { out: r.sent.map((p) => p.toString('hex')), in: r.received.map((p) => p.toString('hex')), stats: r.link.stats };
  };
  t.deepEqual(run(7), run(7));
  t.notDeepEqual(run(7).out, run(8).out);
});

test('each rate is met within tolerance, independently in each direction', (t) => {
  const n = 20_000;
  const spec = { loss: 10, dup: 5, corrupt: 2, reorder: 3 };
  const r = new Rig(spec, 99);
  for (let i = 0; i < n; i++) {
    r.send(packet(i, 40));
    r.inner.inject(packet(i, 40));
  }
  r.at(1000);
  for (const d of [r.link.stats.outbound, r.link.stats.inbound]) {
    t.is(d.packets, n);
    // Binomial standard deviations are below 0.3% of n here; allow about 4 of them.
    const near = (count: number, pct: number, of = n) => t.true(Math.abs(count / of - pct / 100) < 0.012, `${count} of ${of} vs ${pct}%`);
    near(d.dropped, 10);
    const kept = n - d.dropped;
    near(d.duplicated, 5, kept);
    near(d.corrupted, 2, kept);
    near(d.reordered, 3, kept);
    t.is(d.delayed, 0);
  }
  t.is(r.sent.length, n - r.link.stats.outbound.dropped + r.link.stats.outbound.duplicated);
  t.is(r.received.length, n - r.link.stats.inbound.dropped + r.link.stats.inbound.duplicated);
  t.is(r.link.heldCount, 0);
});

test('loss=100% drops everything and nothing else happens', (t) => {
  const r = new Rig({ loss: 100, dup: 100, corrupt: 100, delay: 10 });
  r.send(...range(50).map((i) => packet(i)));
  r.inner.inject(...range(50).map((i) => packet(i)));
  r.at(100);
  t.is(r.sent.length, 0);
  t.is(r.received.length, 0);
  t.deepEqual(r.link.stats.inbound, { packets: 50, dropped: 50, duplicated: 0, corrupted: 0, reordered: 0, delayed: 0 });
});

test('corrupt flips exactly one bit of each packet, in both directions and on the delayed path', (t) => {
  const popcount = (a: Buffer, b: Buffer) => {
    let n = 0;
    for (let i = 0; i < a.length; i++) for (let x = a[i]! ^ b[i]!; x !== 0; x &= x - 1) n++;
    return n;
  };
  for (const delay of [0, 3]) {
    const r = new Rig({ corrupt: 100, delay }, 5);
    const pkts = range(300).map((i) => packet(i, 20 + (i % 60)));
    for (const p of pkts) r.send(p);
    r.inner.inject(...pkts);
    // The inner link's inbound buffers are left as they were.
    t.true(pkts.every((p, i) => p.equals(packet(i, 20 + (i % 60)))));
    r.at(10);
    t.is(r.sent.length, 300);
    t.is(r.received.length, 300);
    const flipped = new Set<number>();
    for (let i = 0; i < 300; i++) {
      t.is(popcount(r.sent[i]!, pkts[i]!), 1, `outbound ${i}`);
      t.is(popcount(r.received[i]!, pkts[i]!), 1, `inbound ${i}`);
      for (let j = 0; j < pkts[i]!.length; j++) if (r.sent[i]![j] !== pkts[i]![j]) flipped.add(j);
    }
    // Any byte may be hit, the IP header's as well as the payload's.
    t.true([...flipped].some((j) => j < 20) && [...flipped].some((j) => j >= 40), [...flipped].join());
    t.is(r.link.stats.outbound.corrupted, 300);
  }
});

test('dup delivers the copy right behind the original', (t) => {
  const r = new Rig({ dup: 100 });
  r.send(packet(0), packet(1));
  t.deepEqual(ids(r.sent), [0, 0, 1, 1]);
  r.inner.inject(packet(2), packet(3));
  t.deepEqual(ids(r.received), [2, 2, 3, 3]);
  t.is(r.link.stats.outbound.duplicated, 2);
});

test('duplicates staged across a full transmit batch stay intact', (t) => {
  // The inner link holds 8 packets per batch: duplicating forces it to flush in the
  // middle of commit(), and the copy must still carry the original's bytes.
  const r = new Rig({ dup: 100 });
  const pkts = range(20).map((i) => packet(i, 1400));
  for (const p of pkts) {
    const off = r.link.reserve(p.length);
    p.copy(r.link.txBuf, off);
    r.link.commit(off, p.length);
  }
  r.link.flush();
  t.is(r.sent.length, 40);
  r.sent.forEach((p, k) => t.true(p.equals(pkts[k >> 1]!), `packet ${k}`));
});

test('a fixed delay keeps order and releases each packet exactly on time', (t) => {
  const r = new Rig({ delay: 10 });
  r.send(packet(0));
  t.deepEqual(r.scheduled, [10]);
  r.at(4);
  r.send(packet(1), packet(2));
  r.inner.inject(packet(3));
  t.is(r.sent.length, 0);
  t.is(r.received.length, 0);
  t.is(r.link.nextDeadline(), 10);
  r.at(9.999);
  t.is(r.sent.length, 0);
  r.at(10);
  t.deepEqual(ids(r.sent), [0]);
  t.deepEqual(r.scheduled.at(-1), 14);
  r.at(14);
  t.deepEqual(ids(r.sent), [0, 1, 2]);
  t.deepEqual(ids(r.received), [3]);
  t.is(r.batches, 2, 'the inner batch, then one batch from poll()');
  t.is(r.link.nextDeadline(), Infinity);
  t.is(r.link.stats.outbound.delayed, 3);
});

test('held packets are copies: the inner buffers may be reused at once', (t) => {
  const r = new Rig({ delay: 1 });
  r.send(packet(0, 200));
  r.link.inner.txBuf.fill(0xee);
  const inbound = packet(1, 200);
  r.inner.inject(inbound);
  inbound.fill(0xdd);
  r.at(1);
  t.true(r.sent[0]!.equals(packet(0, 200)));
  t.true(r.received[0]!.equals(packet(1, 200)));
});

test('without reorder or jitter, order is kept whatever else happens', (t) => {
  fc.assert(
    fc.property(
      fc.record({ loss: fc.integer({ min: 0, max: 50 }), dup: fc.integer({ min: 0, max: 50 }), corrupt: fc.integer({ min: 0, max: 50 }), delay: fc.integer({ min: 0, max: 20 }) }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 100 }),
      (spec, seed, gaps) => {
        const r = new Rig({ ...spec, corrupt: 0 }, seed);
        let i = 0;
        for (const gap of gaps) {
          r.at(r.now + gap);
          r.send(packet(i));
          r.inner.inject(packet(i));
          i++;
        }
        r.at(r.now + 100);
        for (const got of [ids(r.sent), ids(r.received)]) {
          for (let k = 1; k < got.length; k++) if (got[k]! < got[k - 1]!) return false;
        }
        return r.link.heldCount === 0;
      },
    ),
    { seed: 11, numRuns: 200 },
  );
  t.pass();
});

test('reorder holds a packet back until the next one has passed it', (t) => {
  const r = new Rig({ reorder: 100 });
  // Every packet is picked; one is held at a time, so the next one passes it.
  r.send(packet(0), packet(1), packet(2), packet(3), packet(4));
  t.deepEqual(ids(r.sent), [1, 0, 3, 2]);
  t.is(r.link.heldCount, 1);
  t.deepEqual(r.scheduled, [DEFAULT_REORDER_HOLD_MS]);
  r.inner.inject(packet(10), packet(11), packet(12));
  t.deepEqual(ids(r.received), [11, 10]);
  // With no successor, the held packets go after the hold time.
  r.at(DEFAULT_REORDER_HOLD_MS - 1);
  t.deepEqual(ids(r.sent), [1, 0, 3, 2]);
  r.at(DEFAULT_REORDER_HOLD_MS);
  t.deepEqual(ids(r.sent), [1, 0, 3, 2, 4]);
  t.deepEqual(ids(r.received), [11, 10, 12]);
  t.is(r.link.heldCount, 0);
  t.is(r.link.stats.outbound.reordered, 3);
  t.is(r.link.stats.inbound.reordered, 2);
});

test('reorder with a delay: the held packet leaves right behind its successor', (t) => {
  const r = new Rig({ reorder: 100, delay: 5 });
  r.send(packet(0));
  r.at(2);
  r.send(packet(1));
  r.at(6);
  t.deepEqual(ids(r.sent), []);
  r.at(7);
  t.deepEqual(ids(r.sent), [1, 0]);
});

test('jitter spreads delays over [delay - jitter, delay + jitter] and may reorder', (t) => {
  const r = new Rig({ delay: 10, jitter: 4 }, 3);
  for (let i = 0; i < 200; i++) r.send(packet(i));
  const times: number[] = [];
  for (let now = 0; now <= 20; now += 0.25) {
    const before = r.sent.length;
    r.at(now);
    for (let k = before; k < r.sent.length; k++) times.push(now);
  }
  t.is(times.length, 200);
  t.true(Math.min(...times) >= 6 && Math.max(...times) <= 14);
  t.true(Math.max(...times) - Math.min(...times) > 6);
  const got = ids(r.sent);
  t.notDeepEqual(got, range(200));
  t.deepEqual([...got].sort((a, b) => a - b), range(200));
});

test('schedule() is asked only for earlier times, and again after each poll while packets are held', (t) => {
  const r = new Rig({ delay: 10 });
  r.send(packet(0));
  r.at(1);
  r.send(packet(1));
  t.deepEqual(r.scheduled, [10, 10], 'poll at 1 asks again for 10; the packet due at 11 adds nothing');
  r.at(10);
  t.deepEqual(r.scheduled, [10, 10, 11]);
  r.at(11);
  t.deepEqual(r.scheduled, [10, 10, 11]);
});

test('close drops what is held and stops both directions', (t) => {
  const r = new Rig({ delay: 10 });
  r.send(packet(0));
  r.inner.inject(packet(1));
  r.link.close();
  r.link.close();
  t.true(r.inner.isClosed);
  t.is(r.link.heldCount, 0);
  t.is(r.link.nextDeadline(), Infinity);
  r.at(20);
  t.is(r.sent.length, 0);
  t.is(r.received.length, 0);
});

test('without a seed the link picks one and reports it', (t) => {
  const inner = new MemoryLink();
  const a = new ImpairedLink(inner, parseImpairSpec('loss=1%'), { clock: () => 0, schedule: () => {} });
  t.true(Number.isInteger(a.seed) && a.seed >= 0 && a.seed <= 0xffff_ffff);
  const b = new ImpairedLink(inner, parseImpairSpec('loss=1%,seed=9'), { clock: () => 0, schedule: () => {} });
  t.is(b.seed, 9);
  t.is(b.mtu, 1500);
  t.is(b.txBuf, inner.txBuf);
});
