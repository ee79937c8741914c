import test from 'ava';
import fc from 'fast-check';
import { TimerWheel, WheelTimed } from '../../src/tcp/timer-wheel';

class Item implements WheelTimed<Item> {
  timerKey = Infinity;
  timerNext: Item | null = null;
  timerPrev: Item | null = null;
  timerSlot = -1;
  constructor(readonly id: number) {}
}

function items(n: number): Item[] {
  return Array.from({ length: n }, (_, i) => new Item(i));
}

/** Every timer due by `now`, in the order the wheel gives them. */
function drain(w: TimerWheel<Item>, now: number): Item[] {
  const out: Item[] = [];
  for (let x = w.popDue(now); x !== null; x = w.popDue(now)) out.push(x);
  return out;
}

const ids = (xs: Item[]): number[] => xs.map((x) => x.id);

/** Virtual-time driver: sleep until peek(), drain; the times each item fired. Throws if it spins. */
function drive(w: TimerWheel<Item>, from: number, maxWakes: number): { fired: Map<Item, number>; wakes: number } {
  const fired = new Map<Item, number>();
  let now = from;
  let wakes = 0;
  for (let next = w.peek(); next !== Infinity; next = w.peek()) {
    if (next <= now) throw new Error(`peek ${next} <= now ${now} with nothing due`);
    if (++wakes > maxWakes) throw new Error(`more than ${maxWakes} wakes`);
    now = next;
    for (const x of drain(w, now)) fired.set(x, now);
  }
  return { fired, wakes };
}

/** The wall clock the stack really uses (performance.timeOrigin + now): far above 2^32. */
const WALL = 1_700_000_000_123.25;

test('empty: peek is Infinity, nothing pops, size 0', (t) => {
  const w = new TimerWheel<Item>();
  t.is(w.size, 0);
  t.is(w.peek(), Infinity);
  t.is(w.popDue(1e9), null);
  t.is(w.peek(), Infinity);
});

test('timers fire in deadline order, each exactly at its deadline', (t) => {
  const w = new TimerWheel<Item>();
  const [a, b, c, d, e, f] = items(6) as [Item, Item, Item, Item, Item, Item];
  w.schedule(a, 5);
  w.schedule(b, 3);
  w.schedule(c, 300); // level 1
  w.schedule(d, 17_000); // level 2
  w.schedule(e, 3.5);
  w.schedule(f, 255);
  t.is(w.size, 6);
  t.is(w.peek(), 3);
  t.deepEqual(ids(drain(w, 2.999)), []);
  t.deepEqual(ids(drain(w, 3)), [1]);
  t.is(w.peek(), 3.5);
  t.deepEqual(ids(drain(w, 1e6)), [4, 0, 5, 2, 3]);
  t.is(w.size, 0);
  for (const x of [a, b, c, d, e, f]) {
    t.is(x.timerKey, Infinity);
    t.is(x.timerSlot, -1);
    t.is(x.timerNext, null);
    t.is(x.timerPrev, null);
  }
});

test('a driver waking at peek() fires each timer at its deadline, however far', (t) => {
  const w = new TimerWheel<Item>();
  const deadlines = [1, 2.5, 255.75, 256, 257.125, 1000, 16_383.5, 16_384, 60_000, 1_048_577, 7_200_000, 67_108_864.5];
  const xs = items(deadlines.length);
  xs.forEach((x, i) => w.schedule(x, deadlines[i]!));
  const { fired, wakes } = drive(w, 0, 100);
  t.is(fired.size, deadlines.length);
  xs.forEach((x, i) => t.is(fired.get(x), deadlines[i], `item ${i}`));
  t.true(wakes <= 2 * deadlines.length, `${wakes} wakes`);
});

test('fractional deadlines: never early within the millisecond', (t) => {
  const w = new TimerWheel<Item>();
  const [a, b] = items(2) as [Item, Item];
  w.schedule(a, 10.5);
  w.schedule(b, 10.25);
  t.is(w.peek(), 10.25);
  t.deepEqual(ids(drain(w, 10.2499)), []);
  t.deepEqual(ids(drain(w, 10.25)), [1]);
  t.is(w.peek(), 10.5);
  t.deepEqual(ids(drain(w, 10.4999)), []);
  t.is(w.peek(), 10.5);
  t.deepEqual(ids(drain(w, 10.5)), [0]);
  t.is(w.peek(), Infinity);
});

test('within one millisecond timers fire in arming order; re-arming at the same deadline keeps the place', (t) => {
  const w = new TimerWheel<Item>();
  const xs = items(4);
  w.schedule(xs[2]!, 40.9);
  w.schedule(xs[0]!, 40.1);
  w.schedule(xs[3]!, 40.5);
  w.schedule(xs[1]!, 40.0);
  w.schedule(xs[2]!, 40.9); // unchanged: stays first
  t.is(w.peek(), 40);
  t.deepEqual(ids(drain(w, 41)), [2, 0, 3, 1]);
});

test('re-arm later: the old deadline no longer fires', (t) => {
  const w = new TimerWheel<Item>();
  const [a] = items(1) as [Item];
  w.schedule(a, 100);
  w.schedule(a, 5_000);
  t.is(w.size, 1);
  t.true(w.peek() <= 5_000);
  t.true(w.peek() > 100);
  t.deepEqual(ids(drain(w, 100)), []);
  t.deepEqual(ids(drain(w, 4_999.9)), []);
  t.deepEqual(ids(drain(w, 5_000)), [0]);
  t.is(w.size, 0);
});

test('re-arm earlier: it fires at the new deadline, once', (t) => {
  const w = new TimerWheel<Item>();
  const [a] = items(1) as [Item];
  w.schedule(a, 7_200_000);
  w.schedule(a, 20_000);
  w.schedule(a, 50);
  t.is(w.size, 1);
  t.is(w.peek(), 50);
  t.deepEqual(ids(drain(w, 49)), []);
  t.deepEqual(ids(drain(w, 50)), [0]);
  t.deepEqual(ids(drain(w, 8_000_000)), []);
  t.is(w.peek(), Infinity);
});

test('cancel, and scheduling Infinity, unfile the timer', (t) => {
  const w = new TimerWheel<Item>();
  const [a, b, c] = items(3) as [Item, Item, Item];
  w.schedule(a, 10);
  w.schedule(b, 20);
  w.schedule(c, 1e7);
  w.cancel(a);
  w.cancel(a); // twice: nothing
  w.schedule(b, Infinity);
  t.is(w.size, 1);
  t.is(a.timerKey, Infinity);
  t.is(b.timerSlot, -1);
  t.true(w.peek() > 20);
  w.cancel(c);
  t.is(w.size, 0);
  t.is(w.peek(), Infinity);
  t.deepEqual(ids(drain(w, 1e8)), []);
  w.cancel(new Item(9)); // never filed: nothing
  t.is(w.size, 0);
});

test('a deadline already past is due at the next popDue', (t) => {
  const w = new TimerWheel<Item>();
  const [a, b, c] = items(3) as [Item, Item, Item];
  t.deepEqual(ids(drain(w, 1_000.5)), []);
  w.schedule(a, 10);
  w.schedule(b, 1_000.5);
  w.schedule(c, 1_000.75); // later than now, in the current millisecond
  t.is(w.peek(), 10);
  t.deepEqual(ids(drain(w, 1_000.5)), [0, 1]);
  t.is(w.peek(), 1_000.75);
  t.deepEqual(ids(drain(w, 1_000.75)), [2]);
});

test('far deadlines from a wall-clock base: 2×MSL, a 2 h keepalive, 60 days (overflow)', (t) => {
  const w = new TimerWheel<Item>(); // starts at 0: the first timers land in the overflow list
  const [tw, ka, far, rto] = items(4) as [Item, Item, Item, Item];
  w.schedule(tw, WALL + 60_000);
  w.schedule(ka, WALL + 7_200_000);
  w.schedule(far, WALL + 60 * 86_400_000);
  w.schedule(rto, WALL + 1_000);
  t.is(w.peek(), WALL + 1_000);
  const { fired, wakes } = drive(w, WALL, 40);
  t.is(fired.get(rto), WALL + 1_000);
  t.is(fired.get(tw), WALL + 60_000);
  t.is(fired.get(ka), WALL + 7_200_000);
  t.is(fired.get(far), WALL + 60 * 86_400_000);
  t.true(wakes <= 16, `${wakes} wakes`);
});

test('crossing a 2^32 ms epoch: a timer 1 ms ahead in the next epoch', (t) => {
  const edge = 3 * 2 ** 32;
  const w = new TimerWheel<Item>(edge - 10);
  const [a, b] = items(2) as [Item, Item];
  t.deepEqual(ids(drain(w, edge - 0.5)), []);
  w.schedule(a, edge + 0.25);
  w.schedule(b, edge - 0.25);
  t.is(w.peek(), edge - 0.25);
  t.deepEqual(ids(drain(w, edge - 0.25)), [1]);
  t.is(w.peek(), edge + 0.25);
  t.deepEqual(ids(drain(w, edge + 0.2)), []);
  t.deepEqual(ids(drain(w, edge + 0.25)), [0]);
});

test('peek stays exact in level 0 when the earliest timer of a millisecond leaves', (t) => {
  const w = new TimerWheel<Item>();
  const [a, b, c, d] = items(4) as [Item, Item, Item, Item];
  t.deepEqual(ids(drain(w, 3.5)), []);
  w.schedule(a, 10.2);
  w.schedule(b, 10.7);
  w.schedule(c, 10.5);
  t.is(w.peek(), 10.2);
  w.schedule(a, 500);
  t.is(w.peek(), 10.5);
  w.cancel(c);
  t.is(w.peek(), 10.7);
  // The same in the current millisecond.
  w.schedule(c, 3.9);
  w.schedule(d, 3.6);
  t.is(w.peek(), 3.6);
  w.schedule(d, 3.95);
  t.is(w.peek(), 3.9);
  t.deepEqual(ids(drain(w, 3.92)), [2]);
  t.is(w.peek(), 3.95);
  t.deepEqual(ids(drain(w, 600)), [3, 1, 0]);
});

test('entering a new epoch refiles the overflow before later timers can pass it', (t) => {
  const edge = 2 ** 32;
  const w = new TimerWheel<Item>(edge - 100);
  const [x, y] = items(2) as [Item, Item];
  w.schedule(x, edge + 1_000); // next epoch: overflow
  t.deepEqual(ids(drain(w, edge + 10)), []); // across the edge, before x
  w.schedule(y, edge + 5_000);
  t.is(w.peek(), edge + 1_000);
  t.deepEqual(ids(drain(w, edge + 6_000)), [0, 1]);
});

test('a stale lower bound in a higher level only wakes the driver early, once', (t) => {
  const w = new TimerWheel<Item>();
  const [a, b] = items(2) as [Item, Item];
  w.schedule(a, 20_000);
  w.schedule(b, 20_500);
  w.schedule(a, 30_000); // a leaves; its slot still remembers 20 000
  const lb = w.peek();
  t.true(lb <= 20_500 && lb > 0);
  t.deepEqual(ids(drain(w, lb)), lb === 20_500 ? [1] : []);
  const { fired, wakes } = drive(w, lb, 10);
  if (lb < 20_500) t.is(fired.get(b), 20_500);
  t.is(fired.get(a), 30_000);
  t.true(wakes <= 4);
});

test('popDue(Infinity) drains everything; time running backwards fires nothing early', (t) => {
  const w = new TimerWheel<Item>();
  const xs = items(5);
  xs.forEach((x, i) => w.schedule(x, 10 ** (i + 2) + 0.5));
  t.deepEqual(ids(drain(w, 500)), [0]);
  t.deepEqual(ids(drain(w, 50)), []); // backwards
  w.schedule(xs[0]!, 400); // before now (500), after the backwards call
  t.deepEqual(ids(drain(w, 60)), []);
  t.deepEqual(ids(drain(w, 400)), [0]);
  t.deepEqual(ids(drain(w, Infinity)), [1, 2, 3, 4]);
  t.is(w.size, 0);
  t.is(w.peek(), Infinity);
});

// ---------------------------------------------------------------------------------
// Against a reference model

type Op =
  | { kind: 'arm'; id: number; delta: number }
  | { kind: 'cancel'; id: number }
  | { kind: 'advance'; dt: number }
  | { kind: 'wake' };

const N = 24;
const delta = fc.oneof(
  fc.double({ min: -50, max: 300, noNaN: true }),
  fc.integer({ min: 0, max: 20_000 }),
  fc.integer({ min: 0, max: 3_000_000 }),
  fc.integer({ min: 0, max: 10_000_000_000 }), // ~115 days: past the 2^32 ms epoch
  fc.double({ min: 0, max: 2 ** 27, noNaN: true }),
  fc.constantFrom(0.25, 0.5, 0.75, 1.25, 255.5, 256.5), // several timers in one millisecond, block edges
  fc.constant(Infinity),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('arm' as const), id: fc.nat(N - 1), delta }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), id: fc.nat(N - 1) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      dt: fc.oneof(fc.double({ min: 0, max: 3, noNaN: true }), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 5_000_000 }), fc.integer({ min: 0, max: 10_000_000_000 })),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'wake' as const }) },
);
const base = fc.oneof(fc.constant(0), fc.constant(WALL), fc.constant(2 ** 32 - 300.5), fc.constant(5 * 2 ** 32 - 70_000), fc.double({ min: 0, max: 2 ** 40, noNaN: true }));

test('matches a reference model: each timer fires once, at the first popDue at or after its deadline (property)', (t) => {
  fc.assert(
    fc.property(base, fc.boolean(), fc.array(op, { maxLength: 120 }), (start, startAtBase, ops) => {
      const w = new TimerWheel<Item>(startAtBase ? start : 0);
      const xs = items(N);
      const model = new Map<Item, number>();
      let now = start;
      const earliest = (): number => {
        let m = Infinity;
        for (const d of model.values()) if (d < m) m = d;
        return m;
      };
      const check = (why: string): void => {
        if (w.size !== model.size) throw new Error(`${why}: size ${w.size} != ${model.size}`);
        const m = earliest();
        const p = w.peek();
        if (!(p <= m)) throw new Error(`${why}: peek ${p} > earliest ${m}`);
        if (m === Infinity && p !== Infinity) throw new Error(`${why}: empty but peek ${p}`);
      };
      const advanceTo = (to: number): void => {
        now = to;
        for (const x of drain(w, now)) {
          const d = model.get(x);
          if (d === undefined) throw new Error(`item ${x.id} fired but was not armed`);
          if (d > now) throw new Error(`item ${x.id} fired early: deadline ${d}, now ${now}`);
          if (x.timerKey !== Infinity || x.timerSlot !== -1) throw new Error(`item ${x.id} still marked filed`);
          model.delete(x);
        }
        for (const [x, d] of model) if (d <= now) throw new Error(`item ${x.id} due at ${d} not fired by ${now}`);
        check('after advance');
        const p = w.peek();
        // Nothing is due, so a driver sleeping until peek() must make progress.
        if (!(p > now)) throw new Error(`peek ${p} <= now ${now} with nothing due`);
        // Exact when the earliest timer is in level 0 (the current 256 ms block).
        const m = earliest();
        if (m < Infinity && Math.floor(m / 256) === Math.floor(now / 256) && p !== m) throw new Error(`peek ${p} not exact: earliest ${m}, now ${now}`);
      };
      for (const o of ops) {
        switch (o.kind) {
          case 'arm': {
            const x = xs[o.id]!;
            const d = now + o.delta;
            w.schedule(x, d);
            if (d === Infinity) model.delete(x);
            else model.set(x, d);
            check('after arm');
            break;
          }
          case 'cancel':
            w.cancel(xs[o.id]!);
            model.delete(xs[o.id]!);
            check('after cancel');
            break;
          case 'advance':
            advanceTo(now + o.dt);
            break;
          case 'wake': {
            const p = w.peek();
            if (p !== Infinity) advanceTo(Math.max(now, p));
            break;
          }
          default:
            throw new Error('unreachable');
        }
      }
      // Finally a driver runs the rest to completion, waking only at peek().
      let wakes = 0;
      for (let p = w.peek(); p !== Infinity; p = w.peek()) {
        if (++wakes > 8 * N + 8) throw new Error(`driver did not finish: ${wakes} wakes`);
        advanceTo(Math.max(now, p));
      }
      return model.size === 0;
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test('a driver sleeping until peek() finishes in a bounded number of wakes, firing each timer on time (property)', (t) => {
  fc.assert(
    fc.property(base, fc.array(fc.oneof(fc.double({ min: 0, max: 1_000, noNaN: true }), fc.double({ min: 0, max: 2 ** 33, noNaN: true }), fc.integer({ min: 0, max: 300_000 })), { minLength: 1, maxLength: 60 }), (start, offsets) => {
      const w = new TimerWheel<Item>();
      t.deepEqual(drain(w, start), []);
      const xs = items(offsets.length);
      xs.forEach((x, i) => w.schedule(x, start + offsets[i]!));
      const { fired, wakes } = drive(w, start - 1, 6 * offsets.length + 2); // offsets may be 0: due at start
      xs.forEach((x, i) => {
        if (fired.get(x) !== start + offsets[i]!) throw new Error(`item ${i}: deadline ${start + offsets[i]!}, fired at ${fired.get(x)}`);
      });
      return wakes >= 1 && w.size === 0;
    }),
    { numRuns: 400 },
  );
  t.pass();
});
