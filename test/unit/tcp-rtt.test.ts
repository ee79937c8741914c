import test from 'ava';
import fc from 'fast-check';
import { RTT_DEFAULTS, RttEstimator, SYN_TIMEOUT_RTO } from '../../src/tcp/rtt';

test('defaults: 1 s before any sample, 200 ms floor, 120 s ceiling, 1 ms granularity', (t) => {
  t.deepEqual({ ...RTT_DEFAULTS }, { initialRto: 1000, minRto: 200, maxRto: 120_000, granularity: 1 });
  const r = new RttEstimator();
  t.is(r.srtt, 0);
  t.is(r.rttvar, 0);
  t.is(r.rto, 1000);
  t.is(r.currentRto(), 1000);
  t.false(r.hasSample);
  t.is(r.backoffCount, 0);
  t.is(r.minRto, 200);
  t.is(r.maxRto, 120_000);
  t.is(r.granularity, 1);
});

test('RFC 6298 §2.2: the first sample sets SRTT = R, RTTVAR = R/2', (t) => {
  const r = new RttEstimator();
  r.sample(100);
  t.true(r.hasSample);
  t.is(r.srtt, 100);
  t.is(r.rttvar, 50);
  t.is(r.rto, 100 + 4 * 50);
  t.is(r.currentRto(), 300);
});

test('RFC 6298 §2.3: later samples, RTTVAR updated with the old SRTT', (t) => {
  const r = new RttEstimator();
  r.sample(100);
  r.sample(200);
  // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5
  t.is(r.rttvar, 62.5);
  t.is(r.srtt, 112.5);
  t.is(r.rto, 112.5 + 4 * 62.5);
  r.sample(80);
  // RTTVAR = 3/4 * 62.5 + 1/4 * |112.5 - 80| = 46.875 + 8.125 = 55
  // SRTT = 7/8 * 112.5 + 1/8 * 80 = 98.4375 + 10 = 108.4375
  t.is(r.rttvar, 55);
  t.is(r.srtt, 108.4375);
  t.is(r.rto, 108.4375 + 220);
});

test('RFC 6298 §2.4: the RTO is rounded up to minRto', (t) => {
  const r = new RttEstimator();
  r.sample(1);
  t.is(r.srtt, 1);
  t.is(r.rttvar, 0.5);
  t.is(r.rto, 200);
  r.sample(0); // a virtual clock can measure 0
  t.is(r.rto, 200);
  const strict = new RttEstimator({ minRto: 1000 });
  strict.sample(100);
  t.is(strict.rto, 1000);
});

test('RFC 6298 §2.5: the RTO is capped at maxRto', (t) => {
  const r = new RttEstimator();
  r.sample(40_000); // 40000 + 4 * 20000 = 120000
  t.is(r.rto, 120_000);
  const s = new RttEstimator();
  s.sample(50_000);
  t.is(s.rto, 120_000);
  const small = new RttEstimator({ maxRto: 60_000 });
  small.sample(30_000);
  t.is(small.rto, 60_000);
});

test('G: RTO = SRTT + max(G, K*RTTVAR)', (t) => {
  const r = new RttEstimator({ minRto: 1, granularity: 100 });
  r.sample(10); // 4 * RTTVAR = 20 < G
  t.is(r.rto, 110);
  r.sample(10); // RTTVAR = 3/4 * 5 = 3.75
  t.is(r.rttvar, 3.75);
  t.is(r.rto, 110);
  const fine = new RttEstimator({ minRto: 1, granularity: 1 });
  for (let i = 0; i < 200; i++) fine.sample(10);
  // RTTVAR decays to 0: RTO tends to SRTT + G.
  t.is(fine.srtt, 10);
  t.true(fine.rttvar < 1e-20);
  t.is(fine.rto, 11);
});

test('RFC 6298 §5.5: backoff doubles, capped at maxRto; a sample ends it', (t) => {
  const r = new RttEstimator();
  r.backoff();
  t.is(r.backoffCount, 1);
  t.is(r.currentRto(), 2000);
  t.is(r.rto, 1000, 'the base RTO is unchanged');
  r.backoff();
  t.is(r.currentRto(), 4000);
  for (let i = 0; i < 10; i++) r.backoff();
  t.is(r.backoffCount, 12);
  t.is(r.currentRto(), 120_000);
  for (let i = 0; i < 2000; i++) r.backoff();
  t.is(r.currentRto(), 120_000, 'no overflow after many backoffs');
  r.sample(100);
  t.is(r.backoffCount, 0);
  t.is(r.currentRto(), 300);
  r.backoff();
  t.is(r.currentRto(), 600);
  r.backoff();
  r.backoff();
  t.is(r.currentRto(), 2400);
});

test('RFC 6298 §5.7: after a SYN timeout the RTO becomes 3 s when data begins', (t) => {
  t.is(SYN_TIMEOUT_RTO, 3000);
  const r = new RttEstimator();
  r.backoff(); // the SYN timed out
  r.backoff();
  t.is(r.currentRto(), 4000);
  r.afterSynTimeout();
  t.is(r.rto, 3000);
  t.is(r.backoffCount, 0);
  t.is(r.currentRto(), 3000);
  t.false(r.hasSample);
  // The first real sample takes over (RFC 6298 §2.2).
  r.sample(100);
  t.is(r.rto, 300);

  // An RTO already at or above 3 s is kept.
  const slow = new RttEstimator({ initialRto: 5000 });
  slow.afterSynTimeout();
  t.is(slow.rto, 5000);
  // ...and maxRto still applies.
  const capped = new RttEstimator({ maxRto: 2000 });
  capped.afterSynTimeout();
  t.is(capped.rto, 2000);
});

test('bad samples are ignored, not thrown', (t) => {
  const r = new RttEstimator();
  r.sample(-5);
  r.sample(Number.NaN);
  r.sample(Number.POSITIVE_INFINITY);
  t.false(r.hasSample);
  t.is(r.rto, 1000);
  r.sample(100);
  r.sample(-1);
  t.is(r.srtt, 100);
  t.is(r.rto, 300);
});

test('options are validated; initialRto is clamped to the bounds', (t) => {
  t.throws(() => new RttEstimator({ minRto: 0 }), { instanceOf: RangeError });
  t.throws(() => new RttEstimator({ minRto: 500, maxRto: 400 }), { instanceOf: RangeError });
  t.throws(() => new RttEstimator({ maxRto: Number.POSITIVE_INFINITY }), { instanceOf: RangeError });
  t.throws(() => new RttEstimator({ granularity: -1 }), { instanceOf: RangeError });
  t.throws(() => new RttEstimator({ initialRto: 0 }), { instanceOf: RangeError });
  t.is(new RttEstimator({ initialRto: 50 }).rto, 200);
  t.is(new RttEstimator({ initialRto: 500_000 }).rto, 120_000);
  t.is(new RttEstimator({ initialRto: 3000 }).currentRto(), 3000);
});

test('property: the RTO always lies within [minRto, maxRto] and SRTT within the samples', (t) => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(fc.integer({ min: 0, max: 200_000 }).map((ms) => ({ ms })), fc.constant('backoff' as const)),
        { maxLength: 60 },
      ),
      (ops) => {
        const r = new RttEstimator();
        let lo = Infinity;
        let hi = -Infinity;
        for (const op of ops) {
          if (op === 'backoff') r.backoff();
          else {
            r.sample(op.ms);
            lo = Math.min(lo, op.ms);
            hi = Math.max(hi, op.ms);
          }
          const c = r.currentRto();
          if (!(r.rto >= 200 && r.rto <= 120_000 && c >= r.rto && c <= 120_000)) return false;
          if (r.hasSample && !(r.srtt >= lo - 1e-9 && r.srtt <= hi + 1e-9 && r.rttvar >= 0)) return false;
        }
        return true;
      },
    ),
  );
  t.pass();
});
