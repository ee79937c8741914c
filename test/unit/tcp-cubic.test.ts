import test from 'ava';
import { Cubic } from '../../src/tcp/cubic';

const MSS = 1000;

test('CUBIC: slow start, then β = 0.7 on a congestion event (RFC 9438 §4.6)', (t) => {
  const c = new Cubic(MSS, 10);
  t.is(c.cwnd, 10 * MSS);
  c.onAck(10 * MSS, 10 * MSS, 0);
  t.is(c.cwnd, 12 * MSS, 'byte counting caps slow-start growth at 2 MSS per ACK');
  for (let i = 0; i < 88; i++) c.onAck(MSS, 0, 0);
  t.is(c.cwnd, 100 * MSS);
  c.onCongestionEvent(100 * MSS, 0);
  t.is(c.cwnd, 70 * MSS);
  t.is(c.ssthresh, 70 * MSS);
});

test('CUBIC: the window returns to W_max at K seconds and grows beyond it (§4.2)', (t) => {
  const c = new Cubic(MSS, 10);
  for (let i = 0; i < 90; i++) c.onAck(MSS, 0, 0);
  c.onCongestionEvent(c.cwnd, 0); // W_max = 100 segments, cwnd = 70
  // K = cbrt(W_max (1 − β) / C) = cbrt(100 × 0.3 / 0.4) ≈ 4.217 s
  const k = Math.cbrt((100 * 0.3) / 0.4);
  let now = 0;
  // One window of ACKs per 100 ms RTT (long enough that the cubic curve, not the
  // Reno-friendly estimate, sets the pace).
  while (now < k * 1000 - 150) {
    const n = Math.round(c.cwnd / MSS);
    for (let i = 0; i < n; i++) c.onAck(MSS, c.cwnd, now, 100);
    now += 100;
  }
  t.true(c.cwnd / MSS > 95 && c.cwnd / MSS <= 101, `near W_max just before K: ${c.cwnd / MSS}`);
  const atK = c.cwnd;
  for (let r = 0; r < 30; r++) {
    const n = Math.round(c.cwnd / MSS);
    for (let i = 0; i < n; i++) c.onAck(MSS, c.cwnd, now, 100);
    now += 100;
  }
  t.true(c.cwnd > atK + 5 * MSS, 'convex growth past W_max');
});

test('CUBIC on a short RTT grows like Reno-friendly AIMD: α_cubic ≈ 0.53 segments per RTT (§4.3)', (t) => {
  const c = new Cubic(MSS, 10);
  for (let i = 0; i < 90; i++) c.onAck(MSS, 0, 0);
  c.onCongestionEvent(c.cwnd, 0); // 100 → 70 segments
  let now = 0;
  for (let round = 0; round < 50; round++) {
    const n = Math.round(c.cwnd / MSS);
    for (let i = 0; i < n; i++) c.onAck(MSS, c.cwnd, now, 1);
    now += 1;
  }
  const expected = 70 + 50 * ((3 * 0.3) / 1.7);
  t.true(Math.abs(c.cwnd / MSS - expected) < 2, `cwnd ${c.cwnd / MSS} segments, expected about ${expected.toFixed(1)}`);
});

test('CUBIC: a timeout leaves one segment and ssthresh = β × cwnd (§4.8)', (t) => {
  const c = new Cubic(MSS, 10);
  for (let i = 0; i < 10; i++) c.onAck(MSS, 0, 0);
  c.onTimeout(c.cwnd);
  t.is(c.cwnd, MSS);
  t.is(c.ssthresh, 14 * MSS);
});
