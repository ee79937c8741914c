/**
 * The impairment shim: a Link that wraps another Link and loses, duplicates, corrupts,
 * reorders and delays packets in both directions, from a seeded PRNG so that a run can
 * be replayed. It serves `tuntcp up --impair SPEC` (experiments without root-only kernel
 * qdiscs) and the simulator (test/sim).
 *
 *     --impair loss=5%,reorder=2%,dup=1%,corrupt=0.5%,delay=10ms,jitter=5ms,seed=42
 *
 * What each impairment does to one packet, decided in this order with one draw each:
 *
 * - loss:    the packet is dropped.
 * - corrupt: one random bit of one random byte of the IP datagram is flipped, so the IP
 *            or TCP checksum (or an earlier header check) rejects it at the receiver.
 * - dup:     the packet is delivered twice, the copy right behind the original.
 * - reorder: the packet is held back and released right behind the next packet in the
 *            same direction, or `reorderHoldMs` (10 ms by default) after it was due if no
 *            other packet follows.
 * - delay, jitter: the packet is held for `delay ± jitter` ms (uniform, never below 0),
 *            like netem. Jitter alone can reorder packets; a fixed delay keeps them in order.
 *
 * With delay=0, jitter=0 and no packet held for reordering, packets pass synchronously:
 * outbound ones are committed to the inner link in place (no copy), inbound ones are
 * handed to the receiver during the inner link's own `receive()` call. Packets that are
 * held are copied (the inner buffers are reused).
 *
 * ## The shim reads no clock and arms no timer: how a driver must call it
 *
 * The shim is given `clock()` (the driver's time in ms, the same clock the stack uses)
 * and `schedule(atMs)`. It calls `schedule(atMs)` whenever it holds a packet that is due
 * earlier than the time it last asked for, and again at the end of every `poll()` when
 * packets remain held. The driver must:
 *
 * 1. in `schedule(atMs)`: only arm (or move earlier) one timer for `atMs`; never call
 *    `poll()` from inside `schedule()` (it runs in the middle of the stack's turn);
 * 2. when that timer fires: call `link.poll(clock())` from the event loop — never from
 *    inside the stack's `receive()` nor between a `reserve()` and its `commit()`.
 *    `poll(now)` sends the outbound packets due by `now` (it flushes the inner link
 *    itself) and then hands the inbound packets due by `now` to the receiver as one batch
 *    (`receive()` per packet, then `endOfBatch()`, so the stack takes its turn as for any
 *    batch). Calling `poll()` early or spuriously is harmless;
 * 3. on shutdown, clear the timer; `close()` drops whatever is still held.
 *
 * For example (src/stack.ts-style driver):
 *
 *     let timer: NodeJS.Timeout | null = null;
 *     let timerAt = Infinity;
 *     const link = new ImpairedLink(tunLink, parseImpairSpec(arg), {
 *       clock,
 *       schedule: (at) => {
 *         if (at >= timerAt) return;
 *         if (timer !== null) clearTimeout(timer);
 *         timerAt = at;
 *         timer = setTimeout(() => {
 *           timer = null;
 *           timerAt = Infinity;
 *           link.poll(clock());
 *         }, Math.max(0, Math.ceil(at - clock())));
 *       },
 *     });
 *     // print link.seed so the run can be replayed with seed=N
 *
 * A driver that already computes "the earliest deadline" (the simulator) may instead pass
 * a no-op `schedule` and fold `link.nextDeadline()` into its own, calling `poll(now)`
 * when virtual time reaches it.
 *
 * ## The PRNG
 *
 * sfc32 (Chris Doty-Humphrey's "small fast counting" generator, from PractRand): 128 bits
 * of state, 32-bit operations only (exact and fast in JavaScript, where a 64-bit
 * generator such as xorshift128+ would need BigInt or split halves), passes PractRand and
 * BigCrush, and the counter word guarantees a period of at least 2^32. Not for secrets.
 * Each direction has its own stream, derived from the seed, and every packet consumes the
 * same number of draws whatever the outcome, so changing one rate does not reshuffle the
 * other decisions.
 */
import { Link, LinkReceiver, RxFlag } from './link';

// ---------------------------------------------------------------------------------------
// The spec

export interface ImpairSpec {
  /** Percent of packets dropped, 0-100. */
  loss: number;
  /** Percent of packets held back behind the next one, 0-100. */
  reorder: number;
  /** Percent of packets delivered twice, 0-100. */
  dup: number;
  /** Percent of packets with one bit flipped, 0-100. */
  corrupt: number;
  /** Milliseconds added to every packet. */
  delay: number;
  /** Milliseconds: each packet's delay is uniform in [delay − jitter, delay + jitter], at least 0. */
  jitter: number;
  /** PRNG seed, 0 to 2^32−1; undefined: the link picks one at random (see `ImpairedLink.seed`). */
  seed?: number;
}

/** A spec that changes nothing. */
export const NO_IMPAIRMENT: Readonly<ImpairSpec> = Object.freeze({ loss: 0, reorder: 0, dup: 0, corrupt: 0, delay: 0, jitter: 0 });

const PERCENT_KEYS = ['loss', 'reorder', 'dup', 'corrupt'] as const;
const DURATION_KEYS = ['delay', 'jitter'] as const;
const KNOWN_KEYS = [...PERCENT_KEYS, ...DURATION_KEYS, 'seed'] as const;
type SpecKey = (typeof KNOWN_KEYS)[number];

const EXAMPLE = 'loss=5%,reorder=2%,dup=1%,corrupt=0.5%,delay=10ms,jitter=5ms,seed=42';

/** A bad `--impair` spec. `key` names the offending key when there is one. */
export class ImpairSpecError extends Error {
  readonly code = 'EIMPAIRSPEC';
  constructor(message: string, readonly key: string | null) {
    super(message);
    this.name = 'ImpairSpecError';
  }
}

const PERCENT_RE = /^(\d+(?:\.\d+)?|\.\d+)%$/;
const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)(us|ms|s)$/;
const DURATION_SCALE = { us: 0.001, ms: 1, s: 1000 } as const;

/**
 * Parse `key=value,key=value,...` (keys: loss, reorder, dup, corrupt as percentages
 * 0%-100%; delay, jitter as durations in us, ms or s; seed as an integer 0-4294967295).
 * Keys left out are 0 (seed: undefined). Throws an ImpairSpecError naming the key and
 * the expected form on anything else: unknown or repeated keys, a missing `=`, a
 * percentage without `%` or above 100%, a duration without a unit, a negative value.
 */
export function parseImpairSpec(spec: string): ImpairSpec {
  const fail = (msg: string, key: string | null = null): never => {
    throw new ImpairSpecError(`--impair: ${msg}`, key);
  };
  if (spec.trim() === '') fail(`empty spec (expected key=value pairs such as ${EXAMPLE})`);
  const out: ImpairSpec = { ...NO_IMPAIRMENT };
  const seen = new Set<string>();
  for (const rawItem of spec.split(',')) {
    const item = rawItem.trim();
    const eq = item.indexOf('=');
    if (eq < 0) fail(`${JSON.stringify(item)} is not key=value (expected e.g. ${EXAMPLE})`, item === '' ? null : item);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) {
      fail(`unknown key ${JSON.stringify(key)} (known keys: ${KNOWN_KEYS.join(', ')})`, key);
    }
    if (seen.has(key)) fail(`${key} is given twice`, key);
    seen.add(key);
    const k = key as SpecKey;
    if (k === 'seed') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n > 0xffff_ffff) fail(`seed=${value} is not an integer from 0 to 4294967295 (expected e.g. seed=42)`, k);
      out.seed = n;
    } else if (k === 'delay' || k === 'jitter') {
      const m = DURATION_RE.exec(value);
      const ms = m === null ? NaN : Number(m[1]) * DURATION_SCALE[m[2] as keyof typeof DURATION_SCALE];
      if (!Number.isFinite(ms)) fail(`${k}=${value} is not a non-negative duration with a unit us, ms or s (expected e.g. ${k}=10ms)`, k);
      out[k] = ms;
    } else {
      const m = PERCENT_RE.exec(value);
      const pct = m === null ? NaN : Number(m[1]);
      if (!(pct >= 0 && pct <= 100)) fail(`${k}=${value} is not a percentage from 0% to 100% (expected e.g. ${k}=5%)`, k);
      out[k] = pct;
    }
  }
  return out;
}

/**
 * The canonical text of a spec: keys in a fixed order, zero rates and durations left
 * out (but never an empty string), durations in ms. `parseImpairSpec(formatImpairSpec(s))`
 * equals `s` for any valid spec.
 */
export function formatImpairSpec(spec: ImpairSpec): string {
  const parts: string[] = [];
  for (const k of PERCENT_KEYS) if (spec[k] !== 0) parts.push(`${k}=${plainDecimal(spec[k])}%`);
  for (const k of DURATION_KEYS) if (spec[k] !== 0) parts.push(`${k}=${plainDecimal(spec[k])}ms`);
  if (spec.seed !== undefined) parts.push(`seed=${spec.seed}`);
  return parts.length === 0 ? 'loss=0%' : parts.join(',');
}

/**
 * A non-negative number as plain decimal digits (no exponent), exactly: JavaScript's
 * shortest round-trip digits with the decimal point moved where the exponent says.
 */
function plainDecimal(n: number): string {
  const text = String(n);
  const e = text.indexOf('e');
  if (e < 0) return text;
  const exp = Number(text.slice(e + 1));
  const mantissa = text.slice(0, e);
  const dot = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const point = (dot < 0 ? mantissa.length : dot) + exp; // digits before the point
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** True when the spec changes anything (a driver may skip the shim otherwise). */
export function isImpairing(spec: ImpairSpec): boolean {
  return spec.loss > 0 || spec.reorder > 0 || spec.dup > 0 || spec.corrupt > 0 || spec.delay > 0 || spec.jitter > 0;
}

// ---------------------------------------------------------------------------------------
// The PRNG

/** The 32-bit finalizer of MurmurHash3: spreads a seed's bits over a state word. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85eb_ca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2_ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** sfc32, seeded from a 32-bit seed and a stream number (see the top of this file). */
export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    const s = seed >>> 0;
    this.a = mix32(s ^ 0x9e37_79b9);
    this.b = mix32(s + Math.imul(stream + 1, 0x6a09_e667));
    this.c = mix32(s ^ Math.imul(stream + 1, 0xbb67_ae85));
    this.d = 1; // the counter
    // Warm up, so that close seeds give unrelated sequences.
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  /** Uniform in [0, 2^32). */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 0x1_0000_0000;
  }
}

// ---------------------------------------------------------------------------------------
// The link

export interface ImpairDirectionStats {
  /** Packets that entered the shim in this direction. */
  packets: number;
  dropped: number;
  /** Extra copies delivered. */
  duplicated: number;
  corrupted: number;
  /** Packets held back behind a later one. */
  reordered: number;
  /** Packets held for a delay above 0. */
  delayed: number;
}

export interface ImpairStats {
  /** From the inner link toward the stack. */
  readonly inbound: ImpairDirectionStats;
  /** From the stack toward the inner link. */
  readonly outbound: ImpairDirectionStats;
}

export interface ImpairedLinkOptions {
  /** The driver's clock, ms (the stack's clock or the simulator's virtual time). */
  clock: () => number;
  /** Ask the driver to call `poll()` at `atMs` or later (see the top of this file). */
  schedule: (atMs: number) => void;
  /** Overrides `spec.seed`; when both are undefined a random seed is chosen. */
  seed?: number;
  /** How long a packet held for reordering waits for a successor, ms. Default 10. */
  reorderHoldMs?: number;
}

/** Default wait for a reordered packet with no successor: a short pause, not a loss. */
export const DEFAULT_REORDER_HOLD_MS = 10;

interface Held {
  at: number;
  pkt: Buffer;
  /** Outbound: commit()'s tcpSegSize; inbound: receive()'s RxFlag bits. */
  meta: number;
}

const newStats = (): ImpairDirectionStats => ({ packets: 0, dropped: 0, duplicated: 0, corrupted: 0, reordered: 0, delayed: 0 });

/** One direction's randomness, counters and held packets. */
class Direction {
  readonly stats = newStats();
  /** Delayed packets, sorted by release time; equal times keep their order. */
  readonly queue: Held[] = [];
  /** A packet (and its duplicate) waiting for the next packet to pass it. */
  reorderHeld: Held[] = [];
  /** When the reorder-held packets go anyway. */
  reorderDeadline = Infinity;
  /** The fate of the packet being handled (one per direction: an inbound packet can make
   * the stack transmit before its own handling is over). */
  readonly verdict: Verdict = { drop: false, flipBit: -1, dup: false, reorder: false, delay: 0 };
  constructor(readonly rng: Sfc32) {}

  insert(h: Held): void {
    const q = this.queue;
    let i = q.length;
    while (i > 0 && q[i - 1]!.at > h.at) i--;
    q.splice(i, 0, h);
  }

  nextDeadline(): number {
    const first = this.queue[0];
    return Math.min(first === undefined ? Infinity : first.at, this.reorderDeadline);
  }
}

/** The fate of one packet. */
interface Verdict {
  drop: boolean;
  /** Bit to flip (byte × 8 + bit), or −1. */
  flipBit: number;
  dup: boolean;
  reorder: boolean;
  /** Delay in ms, ≥ 0. */
  delay: number;
}

export class ImpairedLink implements Link {
  readonly spec: Readonly<ImpairSpec>;
  /** The seed in use: print it so the run can be replayed with `seed=N`. */
  readonly seed: number;
  readonly stats: ImpairStats;
  private readonly out: Direction;
  private readonly in: Direction;
  private readonly clock: () => number;
  private readonly scheduleCb: (atMs: number) => void;
  private readonly reorderHoldMs: number;
  /** Where an outbound duplicate is staged while the inner link may flush. */
  private readonly scratch: Buffer;
  private receiver: LinkReceiver | null = null;
  /** The earliest time we have asked the driver for; Infinity when none is pending. */
  private scheduledAt = Infinity;
  private closed = false;

  /** The inner link calls this adapter; the stack's receiver sees only what survives. */
  private readonly fromInner: LinkReceiver = {
    receive: (buf, off, len, flags) => this.inboundPacket(buf, off, len, flags),
    endOfBatch: () => {
      if (this.receiver !== null && !this.closed) this.receiver.endOfBatch();
    },
  };

  constructor(readonly inner: Link, spec: ImpairSpec, opts: ImpairedLinkOptions) {
    this.spec = Object.freeze({ ...spec });
    this.seed = (opts.seed ?? spec.seed ?? Math.floor(Math.random() * 0x1_0000_0000)) >>> 0;
    this.out = new Direction(new Sfc32(this.seed, 1));
    this.in = new Direction(new Sfc32(this.seed, 2));
    this.stats = { inbound: this.in.stats, outbound: this.out.stats };
    this.clock = opts.clock;
    this.scheduleCb = opts.schedule;
    this.reorderHoldMs = opts.reorderHoldMs ?? DEFAULT_REORDER_HOLD_MS;
    this.scratch = Buffer.alloc(inner.maxPacket);
    // A bit flipped before an offloading link finishes the checksum would go unnoticed:
    // with corruption on, the stack computes its own checksums and segments.
    this.tcpOffload = inner.tcpOffload && this.spec.corrupt === 0;
    this.maxPacket = this.tcpOffload ? inner.maxPacket : inner.mtu;
  }

  readonly tcpOffload: boolean;
  readonly maxPacket: number;

  get mtu(): number {
    return this.inner.mtu;
  }

  /** The stack writes outbound packets straight into the inner link's buffer. */
  get txBuf(): Buffer {
    return this.inner.txBuf;
  }

  /** Packets held (delayed or reordered) in both directions. */
  get heldCount(): number {
    return this.out.queue.length + this.out.reorderHeld.length + this.in.queue.length + this.in.reorderHeld.length;
  }

  start(receiver: LinkReceiver): void {
    this.receiver = receiver;
    this.inner.start(this.fromInner);
  }

  reserve(maxLen: number): number {
    return this.inner.reserve(maxLen);
  }

  commit(off: number, len: number, tcpSegSize = 0): void {
    if (this.closed) return;
    const buf = this.inner.txBuf;
    const v = this.decide(this.out, len);
    if (v.drop) return; // not committed: the inner link reuses the room
    if (v.flipBit >= 0) flip(buf, off, v.flipBit);
    const now = this.clock();
    if (v.delay === 0 && !v.reorder) {
      // The synchronous path: committed in place, no copy.
      this.inner.commit(off, len, tcpSegSize);
      if (v.dup) this.sendCopy(buf, off, len, tcpSegSize);
      this.releaseReordered(this.out, now);
    } else {
      const copies = [Buffer.from(buf.subarray(off, off + len))];
      if (v.dup) copies.push(Buffer.from(copies[0]!));
      this.hold(this.out, copies, tcpSegSize, now + v.delay, v.reorder, now);
    }
    for (const h of this.due(this.out, now)) this.sendCopy(h.pkt, 0, h.pkt.length, h.meta);
    this.requestPoll();
  }

  flush(): void {
    this.inner.flush();
  }

  /**
   * Release what is due by `now`: outbound packets go to the inner link (flushed here),
   * then inbound ones go to the receiver as one batch. See the top of this file for when
   * a driver may call this.
   */
  poll(now: number): void {
    this.scheduledAt = Infinity;
    if (this.closed) return;
    let sent = 0;
    for (const h of this.due(this.out, now)) {
      this.sendCopy(h.pkt, 0, h.pkt.length, h.meta);
      sent++;
    }
    if (sent > 0) this.inner.flush();
    const inbound = this.due(this.in, now);
    if (inbound.length > 0 && this.receiver !== null) {
      for (const h of inbound) this.receiver.receive(h.pkt, 0, h.pkt.length, h.meta);
      this.receiver.endOfBatch();
    }
    this.requestPoll();
  }

  /** The earliest time a held packet is due, or Infinity. */
  nextDeadline(): number {
    if (this.closed) return Infinity;
    return Math.min(this.out.nextDeadline(), this.in.nextDeadline());
  }

  /** Drop whatever is held and close the inner link. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of [this.in, this.out]) {
      d.queue.length = 0;
      d.reorderHeld = [];
      d.reorderDeadline = Infinity;
    }
    this.receiver = null;
    this.inner.close();
  }

  // -------------------------------------------------------------------------------------

  private inboundPacket(buf: Buffer, off: number, len: number, flags: number): void {
    const r = this.receiver;
    if (r === null || this.closed) return;
    const v = this.decide(this.in, len);
    if (v.drop) return;
    const now = this.clock();
    // A corrupted packet's checksum must be checked, whatever the device vouched for.
    if (v.flipBit >= 0) flags &= ~RxFlag.CHECKSUM_OK;
    if (v.delay === 0 && !v.reorder) {
      // Synchronous: flip in place for the receiver's call, then restore the inner
      // link's buffer (the receiver copies anything it keeps).
      if (v.flipBit >= 0) flip(buf, off, v.flipBit);
      r.receive(buf, off, len, flags);
      if (v.dup) r.receive(buf, off, len, flags);
      if (v.flipBit >= 0) flip(buf, off, v.flipBit);
      this.releaseReordered(this.in, now);
    } else {
      const pkt = Buffer.from(buf.subarray(off, off + len));
      if (v.flipBit >= 0) flip(pkt, 0, v.flipBit);
      const copies = [pkt];
      if (v.dup) copies.push(Buffer.from(pkt));
      this.hold(this.in, copies, flags, now + v.delay, v.reorder, now);
    }
    // Within the inner link's batch: its endOfBatch() ends ours.
    for (const h of this.due(this.in, now)) r.receive(h.pkt, 0, h.pkt.length, h.meta);
    this.requestPoll();
  }

  /** Queue `copies` for release at `at`, or hold them back for reordering. */
  private hold(d: Direction, copies: Buffer[], meta: number, at: number, reorder: boolean, now: number): void {
    if (at > now) d.stats.delayed++;
    if (reorder && d.reorderHeld.length === 0) {
      d.stats.reordered++;
      d.reorderHeld = copies.map((pkt) => ({ at, pkt, meta }));
      d.reorderDeadline = at + this.reorderHoldMs;
    } else {
      // Already holding one back: this packet is the one that passes it.
      for (const pkt of copies) d.insert({ at, pkt, meta });
      this.releaseReordered(d, at);
    }
  }

  /** The next packet has gone (due at `at`): the held-back one follows it. */
  private releaseReordered(d: Direction, at: number): void {
    if (d.reorderHeld.length === 0) return;
    for (const h of d.reorderHeld) d.insert({ at: Math.max(at, h.at), pkt: h.pkt, meta: h.meta });
    d.reorderHeld = [];
    d.reorderDeadline = Infinity;
  }

  /** Take the packets due by `now`, oldest first; a reorder hold that ran out joins them. */
  private due(d: Direction, now: number): Held[] {
    if (d.reorderDeadline <= now) this.releaseReordered(d, d.reorderDeadline);
    const q = d.queue;
    let n = 0;
    while (n < q.length && q[n]!.at <= now) n++;
    return q.splice(0, n);
  }

  /** Copy a packet into the inner link's transmit buffer and commit it. */
  private sendCopy(src: Buffer, off: number, len: number, tcpSegSize: number): void {
    // Stage it first: reserve() may flush and reuse the room the source sits in.
    src.copy(this.scratch, 0, off, off + len);
    const at = this.inner.reserve(len);
    this.scratch.copy(this.inner.txBuf, at, 0, len);
    this.inner.commit(at, len, tcpSegSize);
  }

  private requestPoll(): void {
    const next = this.nextDeadline();
    if (next < this.scheduledAt) {
      this.scheduledAt = next;
      this.scheduleCb(next);
    }
  }

  /** Draw the fate of one packet: always five draws, plus one for the bit to flip. */
  private decide(d: Direction, len: number): Verdict {
    const s = this.spec;
    const rng = d.rng;
    const v = d.verdict;
    d.stats.packets++;
    const uLoss = rng.next();
    const uCorrupt = rng.next();
    const uDup = rng.next();
    const uReorder = rng.next();
    const uJitter = rng.next();
    v.drop = uLoss * 100 < s.loss;
    v.flipBit = -1;
    v.dup = false;
    v.reorder = false;
    v.delay = 0;
    if (v.drop) {
      d.stats.dropped++;
      return v;
    }
    if (uCorrupt * 100 < s.corrupt && len > 0) {
      v.flipBit = Math.floor(rng.next() * len * 8);
      d.stats.corrupted++;
    }
    if (uDup * 100 < s.dup) {
      v.dup = true;
      d.stats.duplicated++;
    }
    v.reorder = uReorder * 100 < s.reorder;
    v.delay = Math.max(0, s.delay + (2 * uJitter - 1) * s.jitter);
    return v;
  }
}

/** Flip bit `bit` (byte × 8 + bit number) of the packet at `off`. */
function flip(buf: Buffer, off: number, bit: number): void {
  const i = off + (bit >>> 3);
  buf[i] = buf[i]! ^ (1 << (bit & 7));
}
