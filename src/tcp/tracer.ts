/**
 * The trace hook: one typed stream of what the TCP core does (segments in and out, state
 * changes, timers firing). Consumers (pcap, ladder diagrams, stats) implement
 * `TcpTracer`; the core calls it behind a null check, so with nothing listening the cost
 * is a branch, not an allocation. Arguments are the core's own reused objects: valid
 * only during the call, copy what you keep.
 */
import type { Connection } from './connection';
import type { Segment, SegmentOut } from './segment';
import type { TcpState } from './state';

/** Names of the connection timers, indexed by `Timer` (connection.ts). */
export const TIMER_NAMES = ['retransmit', 'delayed-ack', 'persist', 'keepalive', 'time-wait', 'connect', 'fin-wait-2'] as const;

export interface TcpTracer {
  /** A valid segment arrived, before it is processed; `conn` is null when no connection matched. */
  segmentIn(conn: Connection | null, remoteAddr: number, remotePort: number, localPort: number, seg: Segment, now: number): void;
  /** A segment was sent; `conn` is null for a reset or TIME-WAIT ACK sent on no connection's behalf. */
  segmentOut(conn: Connection | null, remoteAddr: number, remotePort: number, localPort: number, out: SegmentOut, now: number): void;
  /** A connection changed state (RFC 9293 names). */
  stateChange(conn: Connection, from: TcpState, to: TcpState, now: number): void;
  /** A connection timer fired (`TIMER_NAMES[timer]`). */
  timerFired(conn: Connection, timer: number, now: number): void;
}
