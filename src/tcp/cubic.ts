/**
 * CUBIC congestion control (RFC 9438), behind the same interface as NewReno
 * (`--cc cubic`). Slow start is RFC 5681's; congestion avoidance grows the window along
 * a cubic function of the time since the last congestion event, centred on the window
 * where that event happened, with a Reno-friendly floor.
 *
 * Windows are kept in bytes like the rest of the core; the RFC's formulas count segments,
 * so they are evaluated in segments (÷ MSS) and converted back.
 */
import { CongestionControl, CongestionControlFactory, initialWindow } from './congestion';

/** RFC 9438 §4.1: C = 0.4 (segments / s³) and β_cubic = 0.7. */
const C = 0.4;
const BETA = 0.7;
/** RFC 9438 §4.3: α_cubic = 3 (1 − β) / (1 + β), so the Reno-friendly region matches Reno's average rate. */
const ALPHA = (3 * (1 - BETA)) / (1 + BETA);

export class Cubic implements CongestionControl {
  readonly name = 'cubic';
  cwnd: number;
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** RFC 9438 §4.1 W_max (segments): the window at the last congestion event. */
  private wMax = 0;
  /** The W_max before that, for fast convergence (§4.7). */
  private wLastMax = 0;
  /** K (seconds): when the cubic function reaches W_max again. */
  private k = 0;
  /** Start of the current congestion-avoidance epoch (ms), or -1 when none. */
  private epochStart = -1;
  /** W_est (segments): the Reno-friendly estimate (§4.3). */
  private wEst = 0;
  /** cwnd (segments) at the start of the epoch. */
  private cwndEpoch = 0;

  constructor(private readonly mss: number, initialWindowSegments: number) {
    this.cwnd = initialWindow(mss, initialWindowSegments);
  }

  onAck(acked: number, _flight: number, now: number, srtt = 0): void {
    if (this.cwnd < this.ssthresh) {
      // RFC 9438 §4.10: slow start as RFC 5681 (with RFC 3465 byte counting, L = 2).
      this.cwnd += Math.min(acked, 2 * this.mss);
      return;
    }
    const mss = this.mss;
    const cwndSeg = this.cwnd / mss;
    if (this.epochStart < 0) {
      // §4.2: a new epoch starts with the first ACK in congestion avoidance.
      this.epochStart = now;
      this.cwndEpoch = cwndSeg;
      this.wEst = cwndSeg;
      if (this.wMax <= cwndSeg) {
        this.k = 0;
        this.wMax = cwndSeg;
      } else {
        this.k = Math.cbrt((this.wMax - cwndSeg) / C);
      }
    }
    // §4.2: the target is W_cubic(t + RTT), clamped to [cwnd, 1.5 × cwnd].
    const t = (now - this.epochStart + srtt) / 1000;
    const wCubic = C * (t - this.k) ** 3 + this.wMax;
    const target = Math.min(Math.max(wCubic, cwndSeg), 1.5 * cwndSeg);
    // §4.3: the Reno-friendly estimate grows by α per window of acknowledged data.
    this.wEst += (ALPHA * (acked / mss)) / cwndSeg;
    let next: number;
    if (wCubic < this.wEst) {
      next = this.wEst; // Reno-friendly region
    } else {
      // §4.4/4.5: concave and convex regions: (target − cwnd) / cwnd per acknowledged segment.
      next = cwndSeg + ((target - cwndSeg) / cwndSeg) * (acked / mss);
    }
    this.cwnd = Math.max(this.cwnd, Math.round(next * mss));
  }

  onCongestionEvent(_flight: number, _now: number): void {
    const cwndSeg = this.cwnd / this.mss;
    // §4.7 fast convergence: when the window stopped short of the last W_max, release
    // bandwidth to newer flows.
    this.wLastMax = this.wMax;
    this.wMax = cwndSeg < this.wLastMax ? (cwndSeg * (1 + BETA)) / 2 : cwndSeg;
    // §4.6: multiplicative decrease by β_cubic; never below 2 segments (RFC 5681 §3.1).
    this.ssthresh = Math.max(Math.round(this.cwnd * BETA), 2 * this.mss);
    this.cwnd = this.ssthresh;
    this.epochStart = -1;
  }

  onRecoveryEnd(): void {
    this.cwnd = this.ssthresh;
    this.epochStart = -1;
  }

  onTimeout(_flight: number): void {
    // §4.8: on a timeout, ssthresh as on a congestion event, cwnd to one segment, and
    // the cubic epoch starts over once congestion avoidance resumes.
    const cwndSeg = this.cwnd / this.mss;
    this.wLastMax = this.wMax;
    this.wMax = cwndSeg;
    this.ssthresh = Math.max(Math.round(this.cwnd * BETA), 2 * this.mss);
    this.cwnd = this.mss;
    this.epochStart = -1;
  }
}

export const cubic: CongestionControlFactory = (mss, iw) => new Cubic(mss, iw);
