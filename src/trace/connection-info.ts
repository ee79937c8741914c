/**
 * One connection as plain JSON: the shape shared by GET /connections, the status page
 * and `tuntcp stats` (over the control socket). Field names are part of that contract.
 */
import type { Connection, ConnectionStats } from '../tcp/connection';
import type { TcpState } from '../tcp/state';
import { ipv4ToString } from '../wire/ipv4';

/** The connection's counters (ConnectionStats: segments, bytes, retransmissions, SACK, RACK) and its state. */
export interface ConnectionInfo extends ConnectionStats {
  /** "10.77.0.2:80" */
  local: string;
  /** "10.77.0.1:45678" */
  remote: string;
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  /** RFC 9293 state name ("ESTABLISHED"). */
  state: TcpState;
  /** Opened by a listener (passive) or by connect() (active). */
  passive: boolean;
  /** Congestion controller ("newreno", "cubic"). */
  cc: string;
  /** Congestion window, bytes (RFC 5681 cwnd). */
  cwnd: number;
  /** Slow-start threshold, bytes; null while still "arbitrarily high" (RFC 5681 §3.1). */
  ssthresh: number | null;
  /** Smoothed RTT and its variation, ms (RFC 6298); null before the first sample. */
  srtt: number | null;
  rttvar: number | null;
  /** Current retransmission timeout, ms, backoff included. */
  rto: number;
  /** The peer's window (SND.WND) and ours (RCV.WND), bytes. */
  sndWnd: number;
  rcvWnd: number;
  /** Effective send MSS, bytes. */
  mss: number;
  /** Bytes queued to send and not yet acknowledged; bytes received and not yet read. */
  sendQueued: number;
  recvQueued: number;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A snapshot of `conn` (no references kept). */
export function connectionInfo(conn: Connection): ConnectionInfo {
  const local = ipv4ToString(conn.localAddr);
  const remote = ipv4ToString(conn.remoteAddr);
  const rtt = conn.rtt;
  const ssthresh = conn.cc.ssthresh;
  return {
    local: `${local}:${conn.localPort}`,
    remote: `${remote}:${conn.remotePort}`,
    localAddr: local,
    localPort: conn.localPort,
    remoteAddr: remote,
    remotePort: conn.remotePort,
    state: conn.state,
    passive: conn.passive,
    cc: conn.cc.name,
    cwnd: conn.cc.cwnd,
    ssthresh: Number.isFinite(ssthresh) && ssthresh < 2 ** 31 ? ssthresh : null,
    srtt: rtt.hasSample ? round3(rtt.srtt) : null,
    rttvar: rtt.hasSample ? round3(rtt.rttvar) : null,
    rto: round3(rtt.currentRto()),
    ...conn.stats,
    sndWnd: conn.sndWnd,
    rcvWnd: conn.rcvWnd,
    mss: conn.sndMss,
    sendQueued: conn.sendQueued,
    recvQueued: conn.readable,
  };
}

/** Every live connection, in the TCP layer's order. */
export function connectionInfos(conns: Iterable<Connection>): ConnectionInfo[] {
  const out: ConnectionInfo[] = [];
  for (const c of conns) out.push(connectionInfo(c));
  return out;
}
