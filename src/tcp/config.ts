/**
 * Tunables of the TCP core, with their defaults and where each default comes from.
 * Everything is in bytes or milliseconds.
 */
export interface TcpConfig {
  /** The MSS we advertise: MTU − 40 (RFC 9293 §3.7.1, RFC 6691: IP and TCP headers without options). */
  mss: number;
  /** Send buffer per connection. 256 KiB: enough for a 10 Gbit/s × 200 µs path, small enough for 10k connections. */
  sendBufferSize: number;
  /** Receive buffer per connection, and so the largest window we offer. */
  recvBufferSize: number;
  /** Maximum segment lifetime. TIME-WAIT lasts 2×MSL: 60 s by default, as Linux's TCP_TIMEWAIT_LEN (RFC 9293 §3.4.2 suggests MSL = 2 min). */
  msl: number;
  /** RFC 6298 §2.1 initial RTO: 1 s. */
  initialRto: number;
  /** Lower bound on RTO: 200 ms, Linux's TCP_RTO_MIN (RFC 6298 §2.4 says 1 s; see rtt.ts for why). */
  minRto: number;
  /** Upper bound on RTO: 120 s, Linux's TCP_RTO_MAX (RFC 6298 §2.5: at least 60 s). */
  maxRto: number;
  /** SYN retransmissions before an active open fails: 6, Linux's tcp_syn_retries (RFC 1122 §4.2.3.5: at least 3 minutes in all). */
  synRetries: number;
  /** SYN-ACK retransmissions before an embryonic connection is dropped: 5, Linux's tcp_synack_retries. */
  synAckRetries: number;
  /** Data retransmissions before the connection is aborted with ETIMEDOUT: 15, Linux's tcp_retries2 (RFC 1122 §4.2.3.5 "R2", at least 100 s). */
  maxRetries: number;
  /** An active open that is not established by then fails with ETIMEDOUT: 75 s, as BSD's connect timeout. */
  connectTimeout: number;
  /** Delayed-ACK timeout: 40 ms, Linux's TCP_DELACK_MIN (RFC 1122 §4.2.3.2 and RFC 9293 §3.8.6.3: under 0.5 s). */
  delayedAck: number;
  /** Initial congestion window in segments: 10 (RFC 6928). */
  initialWindow: number;
  /** Offer window scaling (RFC 7323 §2). */
  windowScaling: boolean;
  /** Offer timestamps: RTT measurement and PAWS (RFC 7323 §3–5). */
  timestamps: boolean;
  /** Offer selective acknowledgments (RFC 2018) and SACK-based loss recovery (RFC 6675). */
  sack: boolean;
  /**
   * RACK-TLP loss detection (RFC 8985) in place of RFC 6675's DupThresh, with tail loss
   * probes. Needs SACK: a connection without it keeps NewReno (RFC 6582) and the RTO.
   */
  rack: boolean;
  /** An orphaned connection (closed by the application) waits this long in FIN-WAIT-2: 60 s, Linux's tcp_fin_timeout. */
  finWait2Timeout: number;
  /** Keepalive idle time, probe interval and probe count: 2 h, 75 s, 9 (RFC 1122 §4.2.3.6; Linux's defaults). */
  keepaliveIdle: number;
  keepaliveInterval: number;
  keepaliveProbes: number;
  /**
   * TSO: the most data one outgoing packet may carry when the link cuts TCP packets into
   * MSS-sized segments itself (a TUN device with offloads). 0, the default: one segment
   * per MSS. The TCP layer sets it from its link.
   */
  tsoMax: number;
}

export function defaultTcpConfig(mtu = 1500): TcpConfig {
  return {
    mss: mtu - 40,
    sendBufferSize: 256 * 1024,
    recvBufferSize: 256 * 1024,
    msl: 30_000,
    initialRto: 1000,
    minRto: 200,
    maxRto: 120_000,
    synRetries: 6,
    synAckRetries: 5,
    maxRetries: 15,
    connectTimeout: 75_000,
    delayedAck: 40,
    initialWindow: 10,
    windowScaling: true,
    timestamps: true,
    sack: true,
    rack: true,
    finWait2Timeout: 60_000,
    keepaliveIdle: 7_200_000,
    keepaliveInterval: 75_000,
    keepaliveProbes: 9,
    tsoMax: 0,
  };
}
