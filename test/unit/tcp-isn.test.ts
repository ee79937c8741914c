import { createHmac } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { IsnGenerator, ISN_SECRET_MIN_BYTES, parseIsnSecret } from '../../src/tcp/isn';
import { seqDiff } from '../../src/tcp/seq';

const SECRET = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const OTHER = Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex');
const LOCAL = 0x0a4d0002; // 10.77.0.2
const REMOTE = 0x0a4d0001; // 10.77.0.1

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v >>>= 1) n += v & 1;
  return n;
}

test('the constructor insists on a 16-byte secret', (t) => {
  t.is(ISN_SECRET_MIN_BYTES, 16);
  t.throws(() => new IsnGenerator(Buffer.alloc(15)), { message: /at least 16 bytes/ });
  t.throws(() => new IsnGenerator(Buffer.alloc(0)), { message: /at least 16 bytes/ });
  t.notThrows(() => new IsnGenerator(Buffer.alloc(16)));
  t.notThrows(() => new IsnGenerator(Buffer.alloc(64)));
});

test('isn is a uint32 and deterministic for a given secret', (t) => {
  const a = new IsnGenerator(SECRET);
  const b = new IsnGenerator(Buffer.from(SECRET));
  for (const now of [0, 1, 4, 1_000_000, 1.7e15]) {
    const x = a.isn(now, LOCAL, 80, REMOTE, 40000);
    t.true(Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff);
    t.is(x, a.isn(now, LOCAL, 80, REMOTE, 40000));
    t.is(x, b.isn(now, LOCAL, 80, REMOTE, 40000));
  }
});

test('the secret is copied: changing the caller buffer later changes nothing', (t) => {
  const secret = Buffer.from(SECRET);
  const g = new IsnGenerator(secret);
  const before = g.isn(1000, LOCAL, 80, REMOTE, 40000);
  secret.fill(0xaa);
  t.is(g.isn(1000, LOCAL, 80, REMOTE, 40000), before);
});

test('F is HMAC-SHA-256 over the 4-tuple: at time 0 the ISN is F', (t) => {
  // An independent computation of F from the definition.
  const tuple = Buffer.alloc(12);
  tuple.writeUInt32BE(LOCAL, 0);
  tuple.writeUInt16BE(80, 4);
  tuple.writeUInt32BE(REMOTE, 6);
  tuple.writeUInt16BE(40000, 10);
  const f = createHmac('sha256', SECRET).update(tuple).digest().readUInt32BE(0);
  const g = new IsnGenerator(SECRET);
  t.is(g.isn(0, LOCAL, 80, REMOTE, 40000), f);
  t.is(g.isn(3, LOCAL, 80, REMOTE, 40000), f); // M has not ticked yet
  t.is(g.isn(4, LOCAL, 80, REMOTE, 40000), (f + 1) >>> 0);
});

test('M ticks every 4 us: the same tuple advances by exactly floor-quarter microseconds mod 2^32', (t) => {
  const g = new IsnGenerator(SECRET);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 0, max: 0xffff }),
      (t1, dt, port) => {
        const t2 = t1 + dt;
        const a = g.isn(t1, LOCAL, 80, REMOTE, port);
        const b = g.isn(t2, LOCAL, 80, REMOTE, port);
        const ticks = (Math.floor(t2 / 4) - Math.floor(t1 / 4)) % 2 ** 32;
        return ((b - a) >>> 0) === ticks;
      },
    ),
  );
  // Exact examples, including M wrapping past 2^32 (after 2^34 us).
  t.is(seqDiff(g.isn(4_000_000, LOCAL, 80, REMOTE, 1), g.isn(0, LOCAL, 80, REMOTE, 1)), 1_000_000);
  t.is(g.isn(2 ** 34, LOCAL, 80, REMOTE, 1), g.isn(0, LOCAL, 80, REMOTE, 1));
  t.is(g.isn(2 ** 34 + 8, LOCAL, 80, REMOTE, 1), (g.isn(0, LOCAL, 80, REMOTE, 1) + 2) >>> 0);
});

test('distinct 4-tuples get unrelated ISNs', (t) => {
  const g = new IsnGenerator(SECRET);
  const now = 123_456_789;
  const N = 2000;
  const isns: number[] = [];
  for (let p = 0; p < N; p++) isns.push(g.isn(now, LOCAL, 80, REMOTE, 30000 + p));

  // No two tuples share an ISN.
  t.is(new Set(isns).size, N);

  // Neighbouring ports: differences are neither small nor constant. With 32 random bits,
  // |difference| < 2^20 happens with probability 2^-11 per pair (about 1 in 2000).
  const diffs = new Set<number>();
  let small = 0;
  let flippedBits = 0;
  for (let i = 1; i < N; i++) {
    const a = isns[i - 1]!;
    const b = isns[i]!;
    diffs.add((b - a) >>> 0);
    if (Math.abs(seqDiff(b, a)) < 2 ** 20) small++;
    flippedBits += popcount(a ^ b);
  }
  t.true(small <= 8, `${small} neighbouring ports had close ISNs`);
  t.true(diffs.size > N - 10, 'differences between neighbouring ports look random');
  // About half the bits differ on average (16 of 32; the standard error over 1999 pairs
  // is about 0.06).
  const mean = flippedBits / (N - 1);
  t.true(mean > 15.5 && mean < 16.5, `mean flipped bits ${mean}`);

  // Each bit position is set about half the time.
  for (let bit = 0; bit < 32; bit++) {
    let ones = 0;
    for (const x of isns) ones += (x >>> bit) & 1;
    t.true(ones > N * 0.42 && ones < N * 0.58, `bit ${bit} set ${ones}/${N}`);
  }

  // Every field of the tuple matters, and direction matters.
  const base = g.isn(now, LOCAL, 80, REMOTE, 40000);
  t.not(g.isn(now, LOCAL, 81, REMOTE, 40000), base);
  t.not(g.isn(now, LOCAL + 1, 80, REMOTE, 40000), base);
  t.not(g.isn(now, LOCAL, 80, REMOTE + 1, 40000), base);
  t.not(g.isn(now, REMOTE, 40000, LOCAL, 80), base);
});

test('different secrets give different ISNs for the same tuple and time', (t) => {
  const a = new IsnGenerator(SECRET);
  const b = new IsnGenerator(OTHER);
  let same = 0;
  for (let p = 0; p < 500; p++) {
    if (a.isn(1_000_000, LOCAL, 80, REMOTE, p) === b.isn(1_000_000, LOCAL, 80, REMOTE, p)) same++;
  }
  t.is(same, 0);
});

test('parseIsnSecret accepts 32+ even hex digits', (t) => {
  t.deepEqual(parseIsnSecret('000102030405060708090a0b0c0d0e0f'), SECRET);
  t.deepEqual(parseIsnSecret('000102030405060708090A0B0C0D0E0F'), SECRET);
  t.deepEqual(parseIsnSecret('  000102030405060708090a0b0c0d0e0f\n'), SECRET);
  t.is(parseIsnSecret('ab'.repeat(32)).length, 32);
});

test('parseIsnSecret rejects anything else with one message naming --isn-secret', (t) => {
  const bad = [
    '',
    '00',
    '000102030405060708090a0b0c0d0e', // 15 bytes
    '000102030405060708090a0b0c0d0e0f0', // odd length
    '000102030405060708090a0b0c0d0e0g',
    '0x000102030405060708090a0b0c0d0e0f',
    '0001020304050607 08090a0b0c0d0e0f',
  ];
  const messages = new Set<string>();
  for (const s of bad) {
    const err = t.throws(() => parseIsnSecret(s));
    t.true(err instanceof Error);
    t.regex(err!.message, /--isn-secret/);
    t.regex(err!.message, /32/);
    messages.add(err!.message);
  }
  t.is(messages.size, 1);
  // The message never echoes the (possibly secret) input.
  t.notRegex([...messages][0]!, /0001020304/);
});
