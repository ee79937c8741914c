/**
 * Several consumers of the one trace stream: `tcp.tracer = combineTracers(ladder, other)`.
 * The TCP layer holds a single tracer; this hands each event to every one, in order.
 */
import type { Connection } from '../tcp/connection';
import type { Segment, SegmentOut } from '../tcp/segment';
import type { TcpState } from '../tcp/state';
import type { TcpTracer } from '../tcp/tracer';

/** One tracer for all of `tracers` (nulls skipped); null when none is left, so the core stays on its fast path. */
export function combineTracers(...tracers: (TcpTracer | null | undefined)[]): TcpTracer | null {
  const list = tracers.filter((t): t is TcpTracer => t !== null && t !== undefined);
  if (list.length === 0) return null;
  if (list.length === 1) return list[0]!;
  return {
    segmentIn(conn: Connection | null, remoteAddr: number, remotePort: number, localPort: number, seg: Segment, now: number): void {
      for (const t of list) t.segmentIn(conn, remoteAddr, remotePort, localPort, seg, now);
    },
    segmentOut(conn: Connection | null, remoteAddr: number, remotePort: number, localPort: number, out: SegmentOut, now: number): void {
      for (const t of list) t.segmentOut(conn, remoteAddr, remotePort, localPort, out, now);
    },
    stateChange(conn: Connection, from: TcpState, to: TcpState, now: number): void {
      for (const t of list) t.stateChange(conn, from, to, now);
    },
    timerFired(conn: Connection, timer: number, now: number): void {
      for (const t of list) t.timerFired(conn, timer, now);
    },
  };
}
