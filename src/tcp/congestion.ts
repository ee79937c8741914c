/**
 * Congestion control behind one interface, so controllers can be swapped
 * (`--cc newreno|cubic`). The connection owns loss detection (duplicate ACKs, the
 * retransmission timer) and tells the controller what happened; the controller owns
 * cwnd and ssthresh. All sizes in bytes.
 */
export interface CongestionControl {
  readonly name: string;
  /** Congestion window (RFC 5681 §2 "cwnd"). */
  readonly cwnd: number;
  /** Slow-start threshold (RFC 5681 §2 "ssthresh"). */
  readonly ssthresh: number;
  /**
   * New data was acknowledged outside loss recovery. `flight` is what was outstanding
   * before it; `srtt` the smoothed RTT in ms (0 before the first sample).
   */
  onAck(acked: number, flight: number, now: number, srtt?: number): void;
  /**
   * Loss detected by duplicate ACKs or SACK: fast retransmit begins. Set ssthresh and
   * cwnd for the recovery (the connection adds NewReno's temporary inflation itself).
   */
  onCongestionEvent(flight: number, now: number): void;
  /** Loss recovery ended with a full acknowledgment. */
  onRecoveryEnd(now: number): void;
  /** The retransmission timer expired. */
  onTimeout(flight: number): void;
}

export type CongestionControlFactory = (mss: number, initialWindowSegments: number) => CongestionControl;

/** RFC 6928 §2: IW = min(N × MSS, max(2 × MSS, N × 1460)) bytes, N = 10 by default. */
export function initialWindow(mss: number, segments: number): number {
  return Math.min(segments * mss, Math.max(2 * mss, segments * 1460));
}

/** RFC 5681 §3.1 with RFC 6582's NewReno fast recovery. */
export class NewReno implements CongestionControl {
  readonly name = 'newreno';
  cwnd: number;
  /** RFC 5681 §3.1: "the initial value of ssthresh SHOULD be set arbitrarily high". */
  ssthresh = Number.MAX_SAFE_INTEGER;
  /** Bytes acknowledged since cwnd last grew in congestion avoidance. */
  private acc = 0;

  constructor(private readonly mss: number, initialWindowSegments: number) {
    this.cwnd = initialWindow(mss, initialWindowSegments);
  }

  onAck(acked: number, _flight: number, _now: number): void {
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 §3.1 slow start, with RFC 3465 appropriate byte counting (L = 2 × SMSS).
      this.cwnd += Math.min(acked, 2 * this.mss);
      return;
    }
    // RFC 5681 §3.1 congestion avoidance: about one SMSS per RTT (byte counting, eq. 3's intent).
    this.acc += acked;
    if (this.acc >= this.cwnd) {
      this.acc -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  onCongestionEvent(flight: number): void {
    // RFC 5681 §3.2 step 2 (eq. 4); RFC 6675 §5 step 4.2 sets cwnd = ssthresh. NewReno's
    // "+ 3 × SMSS" inflation (RFC 5681 §3.2 step 3) is the connection's to add.
    this.ssthresh = Math.max(flight / 2, 2 * this.mss) | 0;
    this.cwnd = this.ssthresh;
    this.acc = 0;
  }

  onRecoveryEnd(): void {
    // RFC 6582 §3.2 step 6 and RFC 6675 §5: cwnd = ssthresh after the full acknowledgment.
    this.cwnd = this.ssthresh;
    this.acc = 0;
  }

  onTimeout(flight: number): void {
    // RFC 5681 §3.1 eq. 4 and "LW": one segment after a timeout.
    this.ssthresh = Math.max(flight / 2, 2 * this.mss) | 0;
    this.cwnd = this.mss;
    this.acc = 0;
  }
}

export const newReno: CongestionControlFactory = (mss, iw) => new NewReno(mss, iw);
