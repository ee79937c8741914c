// TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): parser, writer, malformed corpus.
import test, { ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import {
  TCP_MAX_SACK_BLOCKS,
  TCP_MAX_WINDOW_SCALE,
  TcpOptionKind,
  TcpOptions,
  parseTcpOptions,
  tcpOptionsLength,
  writeTcpOptions,
} from '../../src/wire/tcp-options';

function holds<Ts>(t: ExecutionContext, property: fc.IRawProperty<Ts>): void {
  t.notThrows(() => fc.assert(property));
}

function parseHex(hex: string): { ok: boolean; opts: TcpOptions } {
  const bytes = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  // Surround with junk so the parser must stay within [off, off + len).
  const buf = Buffer.concat([Buffer.from([0x02, 0x04]), bytes, Buffer.from([0x02, 0x04, 0xff, 0xff])]);
  const opts = new TcpOptions();
  const ok = parseTcpOptions(buf, 2, bytes.length, opts);
  return { ok, opts };
}

function written(opts: TcpOptions, syn: boolean): string {
  const buf = Buffer.alloc(40);
  const n = writeTcpOptions(buf, 0, opts, syn);
  return buf.subarray(0, n).toString('hex');
}

const u32 = fc.oneof(fc.nat({ max: 0xffffffff }), fc.integer({ min: 0xffffff00, max: 0xffffffff }));

const optionsArb = fc.record({
  mss: fc.oneof(fc.constant(-1), fc.nat({ max: 0xffff })),
  windowScale: fc.oneof(fc.constant(-1), fc.nat({ max: 14 })),
  sackPermitted: fc.boolean(),
  hasTimestamps: fc.boolean(),
  tsVal: u32,
  tsEcr: u32,
  blocks: fc.array(fc.tuple(u32, u32), { maxLength: 4 }),
});
type OptionsIn = typeof optionsArb extends fc.Arbitrary<infer T> ? T : never;

function toOptions(o: OptionsIn): TcpOptions {
  const opts = new TcpOptions();
  opts.mss = o.mss;
  opts.windowScale = o.windowScale;
  opts.sackPermitted = o.sackPermitted;
  opts.hasTimestamps = o.hasTimestamps;
  if (o.hasTimestamps) {
    opts.tsVal = o.tsVal;
    opts.tsEcr = o.tsEcr;
  }
  for (const [l, r] of o.blocks) opts.addSackBlock(l, r);
  return opts;
}

test('TcpOptionKind numbers', (t) => {
  t.deepEqual({ ...TcpOptionKind }, { EOL: 0, NOP: 1, MSS: 2, WINDOW_SCALE: 3, SACK_PERMITTED: 4, SACK: 5, TIMESTAMPS: 8 });
});

test('TcpOptions: defaults, reset, addSackBlock, copyFrom', (t) => {
  const o = new TcpOptions();
  t.is(o.mss, -1);
  t.is(o.windowScale, -1);
  t.false(o.sackPermitted);
  t.false(o.hasTimestamps);
  t.is(o.sackCount, 0);
  for (let i = 0; i < TCP_MAX_SACK_BLOCKS; i++) t.true(o.addSackBlock(i, i + 1));
  t.false(o.addSackBlock(9, 10));
  t.is(o.sackCount, 4);
  o.mss = 1460;
  o.hasTimestamps = true;
  o.tsVal = 5;
  const c = new TcpOptions().copyFrom(o);
  t.is(c.mss, 1460);
  t.is(c.tsVal, 5);
  t.is(c.sackCount, 4);
  t.deepEqual([...c.sackBlocks], [0, 1, 1, 2, 2, 3, 3, 4]);
  o.reset();
  t.is(o.mss, -1);
  t.false(o.hasTimestamps);
  t.is(o.tsVal, 0);
  t.is(o.sackCount, 0);
  t.deepEqual([...o.sackBlocks], [0, 0, 0, 0, 0, 0, 0, 0]);
});

// --- writer layouts -------------------------------------------------------------------

test('SYN with everything: MSS, SACKOK+TS, NOP WS (the layout Linux sends)', (t) => {
  const o = new TcpOptions();
  o.mss = 1460;
  o.sackPermitted = true;
  o.hasTimestamps = true;
  o.tsVal = 0x57f3f521;
  o.windowScale = 7;
  t.is(written(o, true), '020405b4' + '0402080a57f3f52100000000' + '01030307');
  t.is(tcpOptionsLength(o, true), 20);
  // Not a SYN: only the timestamps, as NOP NOP TS.
  t.is(written(o, false), '0101080a57f3f52100000000');
  t.is(tcpOptionsLength(o, false), 12);
});

test('SYN without timestamps: MSS, NOP NOP SACKOK, NOP WS', (t) => {
  const o = new TcpOptions();
  o.mss = 536;
  o.sackPermitted = true;
  o.windowScale = 14;
  t.is(written(o, true), '02040218' + '01010402' + '0103030e');
  o.sackPermitted = false;
  t.is(written(o, true), '02040218' + '0103030e');
  o.windowScale = -1;
  t.is(written(o, true), '02040218');
  o.mss = -1;
  t.is(written(o, true), '');
  t.is(tcpOptionsLength(o, true), 0);
});

test('SACK blocks: NOP NOP SACK, dropped from the end when 40 bytes are full', (t) => {
  const o = new TcpOptions();
  for (let i = 0; i < 4; i++) o.addSackBlock(0xfffffff0 + i, i);
  const block = (i: number) => (0xfffffff0 + i).toString(16) + i.toString(16).padStart(8, '0');
  t.is(written(o, false), '01010522' + block(0) + block(1) + block(2) + block(3));
  t.is(tcpOptionsLength(o, false), 36);
  o.hasTimestamps = true;
  o.tsVal = 1;
  o.tsEcr = 2;
  t.is(written(o, false), '0101080a0000000100000002' + '0101051a' + block(0) + block(1) + block(2));
  t.is(tcpOptionsLength(o, false), 40);
  // On a SYN with MSS, SACKOK+TS and WS (20 bytes), two blocks fit.
  o.mss = 1460;
  o.sackPermitted = true;
  o.windowScale = 7;
  t.is(tcpOptionsLength(o, true), 40);
  t.is(written(o, true), '020405b4' + '0402080a0000000100000002' + '01030307' + '01010512' + block(0) + block(1));
});

test('write then parse: a round trip for any options, SYN or not', (t) => {
  holds(t, fc.property(optionsArb, fc.boolean(), fc.nat({ max: 8 }), (o, syn, off) => {
    const opts = toOptions(o);
    const a = Buffer.alloc(off + 44, 0x00);
    const b = Buffer.alloc(off + 44, 0xff);
    const n = writeTcpOptions(a, off, opts, syn);
    assert.equal(writeTcpOptions(b, off, opts, syn), n);
    // Every byte in [off, off + n) is written explicitly; nothing outside is touched.
    assert.deepEqual(a.subarray(off, off + n), b.subarray(off, off + n));
    assert.ok(a.subarray(0, off).every((x) => x === 0) && a.subarray(off + n).every((x) => x === 0));
    assert.ok(b.subarray(0, off).every((x) => x === 0xff) && b.subarray(off + n).every((x) => x === 0xff));
    assert.equal(n, tcpOptionsLength(opts, syn));
    assert.equal(n % 4, 0);
    assert.ok(n <= 40);

    const back = new TcpOptions();
    assert.ok(parseTcpOptions(a, off, n, back));
    assert.equal(back.mss, syn ? o.mss : -1);
    assert.equal(back.windowScale, syn ? o.windowScale : -1);
    assert.equal(back.sackPermitted, syn && o.sackPermitted);
    assert.equal(back.hasTimestamps, o.hasTimestamps);
    assert.equal(back.tsVal, o.hasTimestamps ? o.tsVal : 0);
    assert.equal(back.tsEcr, o.hasTimestamps ? o.tsEcr : 0);
    // SACK blocks: a prefix of those given, as many as fit.
    assert.ok(back.sackCount <= o.blocks.length);
    if (back.sackCount < o.blocks.length) {
      const oneMore = back.sackCount === 0 ? 4 + 8 : 8; // NOP NOP SACK head, then a block
      assert.ok(n + oneMore > 40, 'a block was dropped that would have fit');
    }
    for (let i = 0; i < back.sackCount; i++) {
      assert.equal(back.sackBlocks[2 * i], o.blocks[i]![0]);
      assert.equal(back.sackBlocks[2 * i + 1], o.blocks[i]![1]);
    }
  }));
});

// --- parser: valid corpus -------------------------------------------------------------

test('parses Linux SYN options', (t) => {
  const { ok, opts } = parseHex('020405b4 0402080a 57f3f521 00000000 0103030a');
  t.true(ok);
  t.is(opts.mss, 1460);
  t.true(opts.sackPermitted);
  t.true(opts.hasTimestamps);
  t.is(opts.tsVal, 0x57f3f521);
  t.is(opts.tsEcr, 0);
  t.is(opts.windowScale, 10);
  t.is(opts.sackCount, 0);
});

test('parses SACK blocks (RFC 2018 §3)', (t) => {
  const { ok, opts } = parseHex('0101 0512 ffffff00 ffffff10 00000010 00000020');
  t.true(ok);
  t.is(opts.sackCount, 2);
  t.deepEqual([...opts.sackBlocks.subarray(0, 4)], [0xffffff00, 0xffffff10, 0x10, 0x20]);
});

test('window scale above 14 is used as 14 (RFC 7323 §2.3)', (t) => {
  for (const shift of [15, 16, 200, 255]) {
    const { ok, opts } = parseHex('0303' + shift.toString(16).padStart(2, '0') + ' 00');
    t.true(ok);
    t.is(opts.windowScale, TCP_MAX_WINDOW_SCALE);
  }
  t.is(parseHex('030300 00').opts.windowScale, 0);
  t.is(parseHex('03030e 00').opts.windowScale, 14);
});

test('valid corpus: EOL, NOP, unknown kinds, empty, repeats', (t) => {
  const cases: [string, string, (o: TcpOptions) => boolean][] = [
    ['empty', '', (o) => o.mss === -1 && o.sackCount === 0],
    ['all NOP', '01010101', (o) => o.mss === -1],
    ['EOL then garbage is ignored', '00 02 01 ff ff', (o) => o.mss === -1],
    ['MSS then EOL then garbage', '020405b4 00 03', (o) => o.mss === 1460 && o.windowScale === -1],
    ['unknown kind 30 (MPTCP) skipped by length', '1e 06 01 02 03 04 020405b4', (o) => o.mss === 1460],
    ['unknown kind with length 2', 'fe 02 020405b4', (o) => o.mss === 1460],
    ['TFO cookie (34) skipped', '22 0a 0102030405060708 0101', (o) => o.mss === -1],
    ['a later MSS wins', '02040100 02040200', (o) => o.mss === 0x200],
    ['MSS 0', '02040000', (o) => o.mss === 0],
    ['option ends exactly at the end', '08 0a 00000001 00000002', (o) => o.hasTimestamps && o.tsVal === 1 && o.tsEcr === 2],
    ['four SACK blocks', '0522' + '00000001'.repeat(8), (o) => o.sackCount === 4],
  ];
  for (const [name, hex, check] of cases) {
    const { ok, opts } = parseHex(hex);
    t.true(ok, name);
    t.true(check(opts), name);
  }
});

// --- parser: malformed corpus ---------------------------------------------------------

const MALFORMED: [string, string][] = [
  ['MSS kind with no length byte', '02'],
  ['NOP then a kind with no length byte', '01 02'],
  ['unknown kind with no length byte', '1e'],
  ['timestamps kind with no length byte', '0101 08'],
  ['length 0', '02 00 05b4'],
  ['length 1', '08 01 00000000 00000000'],
  ['unknown kind, length 0', 'fe 00'],
  ['unknown kind, length 1', 'fe 01 00'],
  ['MSS runs past the end', '02 04 05'],
  ['timestamps run past the end', '08 0a 00000001 000000'],
  ['unknown kind runs past the end', 'fe 05 00 00'],
  ['SACK runs past the end', '05 0a 00000001 000000'],
  ['length far past the end', '1e ff 00'],
  ['MSS length 3', '02 03 05 00'],
  ['MSS length 5', '02 05 05 b4 00'],
  ['window scale length 2', '03 02'],
  ['window scale length 4', '03 04 07 00'],
  ['SACK-permitted length 3', '04 03 00 00'],
  ['SACK-permitted length 4', '04 04 00 00'],
  ['timestamps length 9', '08 09 0000000100000002'],
  ['timestamps length 11', '08 0b 000000010000000200'],
  ['timestamps length 2', '08 02'],
  ['SACK with no block (length 2)', '05 02'],
  ['SACK length 3', '05 03 00'],
  ['SACK length 9', '05 09 0000000100000002'],
  ['SACK length 11', '05 0b 000000010000000200'],
  ['SACK with 5 blocks (length 42)', '05 2a' + '00000001'.repeat(10)],
  ['valid MSS then a truncated option', '020405b4 08'],
  ['valid options then length 0', '0101 0402 fe00'],
];

test('malformed corpus: each returns false and none throws', (t) => {
  for (const [name, hex] of MALFORMED) {
    let result: { ok: boolean } | undefined;
    t.notThrows(() => {
      result = parseHex(hex);
    }, name);
    t.false(result?.ok ?? true, name);
  }
});

test('fuzz: parseTcpOptions never throws, and what it records is in range', (t) => {
  const opts = new TcpOptions();
  holds(t, fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(), fc.nat(), (bytes, a, b) => {
    const buf = Buffer.from(bytes);
    const off = a % (buf.length + 1);
    const len = b % (buf.length - off + 1);
    const ok = parseTcpOptions(buf, off, len, opts);
    assert.equal(typeof ok, 'boolean');
    assert.ok(opts.windowScale <= TCP_MAX_WINDOW_SCALE);
    assert.ok(opts.sackCount >= 0 && opts.sackCount <= TCP_MAX_SACK_BLOCKS);
    assert.ok(opts.mss >= -1 && opts.mss <= 0xffff);
  }));
});

test('fuzz: structured option lists (valid or not) never throw', (t) => {
  const opts = new TcpOptions();
  const option = fc.oneof(
    fc.constantFrom([0], [1]),
    fc.tuple(fc.constantFrom(2, 3, 4, 5, 8, 30, 254), fc.nat({ max: 44 })).chain(([kind, len]) =>
      fc.uint8Array({ minLength: 0, maxLength: 42 }).map((body) => [kind, len, ...body]),
    ),
  );
  holds(t, fc.property(fc.array(option, { maxLength: 6 }), (list) => {
    const buf = Buffer.from(list.flat());
    parseTcpOptions(buf, 0, buf.length, opts);
  }));
});
