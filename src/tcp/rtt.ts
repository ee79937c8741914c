/**
 * The retransmission timeout estimator of RFC 6298.
 *
 * Sans-I/O: the caller measures round-trip times on its own clock (and applies Karn's
 * algorithm, RFC 6298 §3: no samples from retransmitted segments) and feeds them in as
 * milliseconds. All values here are milliseconds.
 */

export interface RttOptions {
  /** RTO before any RTT sample, ms. */
  initialRto?: number;
  /** Lower bound on the RTO, ms. */
  minRto?: number;
  /** Upper bound on the RTO, backoff included, ms. */
  maxRto?: number;
  /** Clock granularity G, ms. */
  granularity?: number;
}

export const RTT_DEFAULTS = {
  // RFC 6298 §2.1: "the sender SHOULD set RTO <- 1 second" before the first sample.
  initialRto: 1000,
  // Linux's TCP_RTO_MIN (HZ/5 = 200 ms), not RFC 6298 §2.4's 1 s. §2.4 says the RTO
  // SHOULD be rounded up to 1 s; like Linux we depart from that. On the local links
  // tuntcp serves, RTTs are far below a millisecond, and a 1 s floor would turn every
  // lost segment into a second of dead air. The floor cannot go much lower, though:
  // a peer may hold back its ACK on purpose (delayed ACK, RFC 1122 §4.2.3.2, RFC 5681
  // §4.2), for up to 200 ms on Linux (TCP_DELACK_MAX), and an RTO shorter than that
  // would retransmit spuriously whenever only one segment is in flight. 200 ms plus
  // SRTT stays at or above Linux's delayed-ACK ceiling.
  minRto: 200,
  // Linux's TCP_RTO_MAX (120 s). RFC 6298 §2.5: "A maximum value MAY be placed on RTO
  // provided it is at least 60 seconds."
  maxRto: 120_000,
  // G: our deadlines are in milliseconds, so the clock granularity is 1 ms.
  granularity: 1,
} as const;

/** RFC 6298 §2.3: alpha = 1/8. */
const ALPHA = 1 / 8;
/** RFC 6298 §2.3: beta = 1/4. */
const BETA = 1 / 4;
/** RFC 6298 §2.2: K = 4. */
const K = 4;
/**
 * RFC 6298 §5.7: after the SYN (or SYN-ACK) timed out, "the RTO MUST be re-initialized
 * to 3 seconds when data transmission begins" if the RTO in use is below 3 s.
 */
export const SYN_TIMEOUT_RTO = 3000;

export class RttEstimator {
  readonly initialRto: number;
  readonly minRto: number;
  readonly maxRto: number;
  readonly granularity: number;

  private _srtt = 0;
  private _rttvar = 0;
  private _rto: number;
  private _hasSample = false;
  private _backoffCount = 0;

  constructor(opts: RttOptions = {}) {
    this.minRto = opts.minRto ?? RTT_DEFAULTS.minRto;
    this.maxRto = opts.maxRto ?? RTT_DEFAULTS.maxRto;
    this.granularity = opts.granularity ?? RTT_DEFAULTS.granularity;
    const initial = opts.initialRto ?? RTT_DEFAULTS.initialRto;
    if (!(this.minRto > 0) || !(this.maxRto >= this.minRto) || !Number.isFinite(this.maxRto)) {
      throw new RangeError(`RTO bounds must satisfy 0 < minRto <= maxRto (got ${this.minRto}, ${this.maxRto})`);
    }
    if (!(this.granularity >= 0) || !Number.isFinite(this.granularity)) {
      throw new RangeError(`clock granularity must be a finite number >= 0 (got ${this.granularity})`);
    }
    if (!(initial > 0) || !Number.isFinite(initial)) {
      throw new RangeError(`initialRto must be a positive number (got ${initial})`);
    }
    this.initialRto = this.clamp(initial);
    this._rto = this.initialRto;
  }

  /** Smoothed RTT; 0 until the first sample. */
  get srtt(): number {
    return this._srtt;
  }

  /** RTT variation; 0 until the first sample. */
  get rttvar(): number {
    return this._rttvar;
  }

  /** The RTO before backoff. */
  get rto(): number {
    return this._rto;
  }

  get hasSample(): boolean {
    return this._hasSample;
  }

  /** Backoffs since the last RTT sample (or since `afterSynTimeout`). */
  get backoffCount(): number {
    return this._backoffCount;
  }

  /**
   * Take one RTT measurement. Negative or non-finite measurements (a clock that went
   * backwards) are ignored rather than thrown: this runs on the packet path.
   */
  sample(rttMs: number): void {
    if (!(rttMs >= 0) || !Number.isFinite(rttMs)) return;
    if (!this._hasSample) {
      // RFC 6298 §2.2: the first measurement R: SRTT <- R, RTTVAR <- R/2.
      this._srtt = rttMs;
      this._rttvar = rttMs / 2;
      this._hasSample = true;
    } else {
      // RFC 6298 §2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|, then
      // SRTT <- (1 - alpha) * SRTT + alpha * R' (RTTVAR first, with the old SRTT).
      this._rttvar = (1 - BETA) * this._rttvar + BETA * Math.abs(this._srtt - rttMs);
      this._srtt = (1 - ALPHA) * this._srtt + ALPHA * rttMs;
    }
    // RFC 6298 §2.2/§2.3: RTO <- SRTT + max(G, K * RTTVAR); §2.4/§2.5: clamped.
    this._rto = this.clamp(this._srtt + Math.max(this.granularity, K * this._rttvar));
    // RFC 6298 §5 (the note after step 5.7): a new measurement recomputes the RTO,
    // "collapsing" a backed-off RTO; with Karn's algorithm (§3) that only happens once
    // new data has been sent and acknowledged.
    this._backoffCount = 0;
  }

  /** RFC 6298 §5.5: the retransmission timer expired: double the RTO ("back off"). */
  backoff(): void {
    this._backoffCount++;
  }

  /** The RTO to arm the retransmission timer with: backoff included, at most maxRto. */
  currentRto(): number {
    // RFC 6298 §5.5: RTO <- RTO * 2 per expiry; §2.5: capped at maxRto. 2^n overflows to
    // Infinity for huge n, which the cap absorbs.
    return Math.min(this._rto * 2 ** this._backoffCount, this.maxRto);
  }

  /**
   * RFC 6298 §5.7: call when data transmission begins after the handshake if the SYN
   * (or SYN-ACK) timed out at least once: an RTO below 3 s is re-initialized to 3 s
   * (within maxRto), and the handshake's backoff is forgotten.
   */
  afterSynTimeout(): void {
    if (this._rto < SYN_TIMEOUT_RTO) this._rto = Math.min(SYN_TIMEOUT_RTO, this.maxRto);
    this._backoffCount = 0;
  }

  private clamp(rto: number): number {
    return Math.min(Math.max(rto, this.minRto), this.maxRto);
  }
}
