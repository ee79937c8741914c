/**
 * The `stats` reply of the control channel: the live connection table and the counters,
 * as plain JSON. `tuntcp stats` renders it (stats-table.ts); `--json` prints it as is.
 */
import { Counters, DropReason } from '../counters';
import type { Connection } from '../tcp/connection';
import { ConnectionInfo, connectionInfos } from '../trace/connection-info';

export interface CountersSnapshot {
  ipIn: number;
  ipOut: number;
  ipFragmentsIn: number;
  ipReassembled: number;
  ipFragmentsOut: number;
  icmpIn: number;
  icmpOut: number;
  icmpEchoReplies: number;
  icmpErrorsIn: number;
  tcpIn: number;
  tcpOut: number;
  tcpRstOut: number;
  tcpRetransmits: number;
  tcpActiveOpens: number;
  tcpPassiveOpens: number;
  tcpConnectionsClosed: number;
  /** Every drop reason, 0 included. */
  drops: Record<DropReason, number>;
}

export interface StatsReply {
  connections: ConnectionInfo[];
  counters: CountersSnapshot;
  /** Connections in TIME-WAIT (kept as compact records, not in `connections`). */
  timeWait: number;
  /** With `--workers N`: each worker's share (worker 0 is the main thread). */
  workers?: WorkerShare[];
}

export interface WorkerShare {
  worker: number;
  connections: number;
  passiveOpens: number;
  activeOpens: number;
  packetsIn: number;
}

/** What statsSnapshot needs of the TCP layer (TcpLayer satisfies it). */
export interface ConnectionSource {
  connections(): Iterable<Connection>;
  readonly timeWaitCount: number;
}

export function countersSnapshot(c: Counters): CountersSnapshot {
  return {
    ipIn: c.ipIn,
    ipOut: c.ipOut,
    ipFragmentsIn: c.ipFragmentsIn,
    ipReassembled: c.ipReassembled,
    ipFragmentsOut: c.ipFragmentsOut,
    icmpIn: c.icmpIn,
    icmpOut: c.icmpOut,
    icmpEchoReplies: c.icmpEchoReplies,
    icmpErrorsIn: c.icmpErrorsIn,
    tcpIn: c.tcpIn,
    tcpOut: c.tcpOut,
    tcpRstOut: c.tcpRstOut,
    tcpRetransmits: c.tcpRetransmits,
    tcpActiveOpens: c.tcpActiveOpens,
    tcpPassiveOpens: c.tcpPassiveOpens,
    tcpConnectionsClosed: c.tcpConnectionsClosed,
    drops: { ...c.drops },
  };
}

/** The reply to {"cmd":"stats"}: `statsSnapshot(tcpLayer, stack.counters)`. */
export function statsSnapshot(tcp: ConnectionSource, counters: Counters): StatsReply {
  return { connections: connectionInfos(tcp.connections()), counters: countersSnapshot(counters), timeWait: tcp.timeWaitCount };
}

/**
 * One reply for several workers' stacks (`--workers N`): connections listed together,
 * counters summed, and each worker's share kept in `workers`.
 */
export function mergeStats(replies: readonly StatsReply[]): StatsReply {
  const first = replies[0]!;
  const counters: CountersSnapshot = { ...first.counters, drops: { ...first.counters.drops } };
  const sum = counters as unknown as Record<string, number>;
  for (const r of replies.slice(1)) {
    const add = r.counters as unknown as Record<string, number>;
    for (const k of Object.keys(add)) if (k !== 'drops') sum[k] = (sum[k] ?? 0) + add[k]!;
    for (const k of Object.keys(r.counters.drops) as DropReason[]) counters.drops[k] = (counters.drops[k] ?? 0) + r.counters.drops[k];
  }
  return {
    connections: replies.flatMap((r) => r.connections),
    counters,
    timeWait: replies.reduce((n, r) => n + r.timeWait, 0),
    workers: replies.map((r, worker) => ({
      worker,
      connections: r.connections.length,
      passiveOpens: r.counters.tcpPassiveOpens,
      activeOpens: r.counters.tcpActiveOpens,
      packetsIn: r.counters.ipIn,
    })),
  };
}
