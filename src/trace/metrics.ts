/**
 * GET /metrics: the stack's counters in the Prometheus text exposition format, version
 * 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/): per family one
 * `# HELP` and one `# TYPE` line, then its samples, `name{label="value"} number`, lines
 * ending in "\n". Counters end in `_total`; label values are escaped (backslash, double
 * quote, newline). Every drop reason and every connection state is always present (at 0),
 * so a dashboard's series do not appear out of nowhere.
 */
import { Counters, DropReason } from '../counters';
import { TcpState } from '../tcp/state';

/** The Content-Type to serve this with. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Connection states a live connection (or TIME-WAIT record) can be in. */
const GAUGE_STATES: readonly TcpState[] = [
  TcpState.SYN_SENT,
  TcpState.SYN_RECEIVED,
  TcpState.ESTABLISHED,
  TcpState.FIN_WAIT_1,
  TcpState.FIN_WAIT_2,
  TcpState.CLOSE_WAIT,
  TcpState.CLOSING,
  TcpState.LAST_ACK,
  TcpState.TIME_WAIT,
];

export interface MetricsOptions {
  /** Connections in TIME-WAIT kept as compact records (TcpLayer.timeWaitCount), added to state="TIME-WAIT". */
  timeWait?: number;
}

type Labels = Readonly<Record<string, string>>;

/** Escape a label value: backslash, double quote and line feed (format 0.0.4). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge', help: string, samples: readonly [Labels, number][]): void {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const keys = Object.keys(labels);
      const l = keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',')}}`;
      this.lines.push(`${name}${l} ${formatValue(value)}`);
    }
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}

/**
 * The exposition text for `counters` and the live `connections` (anything with a
 * `state`: TcpLayer.connections() yields them).
 */
export function renderMetrics(counters: Counters, connections: Iterable<{ readonly state: TcpState }>, opts: MetricsOptions = {}): string {
  const e = new Exposition();
  const c = counters;
  e.family('tuntcp_packets_total', 'counter', 'Packets received (in) and sent (out), per protocol layer.', [
    [{ direction: 'in', layer: 'ip' }, c.ipIn],
    [{ direction: 'out', layer: 'ip' }, c.ipOut],
    [{ direction: 'in', layer: 'icmp' }, c.icmpIn],
    [{ direction: 'out', layer: 'icmp' }, c.icmpOut],
    [{ direction: 'in', layer: 'tcp' }, c.tcpIn],
    [{ direction: 'out', layer: 'tcp' }, c.tcpOut],
  ]);
  e.family(
    'tuntcp_drops_total',
    'counter',
    'Packets dropped, by reason (the packet path drops and counts, never throws).',
    Object.values(DropReason).map((r): [Labels, number] => [{ reason: r }, c.drops[r]]),
  );
  e.family('tuntcp_ip_fragments_total', 'counter', 'IPv4 fragments received (in) and sent (out).', [
    [{ direction: 'in' }, c.ipFragmentsIn],
    [{ direction: 'out' }, c.ipFragmentsOut],
  ]);
  e.family('tuntcp_ip_reassembled_total', 'counter', 'IPv4 datagrams reassembled from fragments.', [[{}, c.ipReassembled]]);
  e.family('tuntcp_icmp_echo_replies_total', 'counter', 'ICMP echo replies sent.', [[{}, c.icmpEchoReplies]]);
  e.family('tuntcp_icmp_errors_received_total', 'counter', 'ICMP error messages received.', [[{}, c.icmpErrorsIn]]);
  e.family('tuntcp_tcp_retransmitted_segments_total', 'counter', 'TCP segments retransmitted (timeouts, fast retransmit, window probes).', [[{}, c.tcpRetransmits]]);
  e.family('tuntcp_tcp_resets_sent_total', 'counter', 'TCP segments sent with RST.', [[{}, c.tcpRstOut]]);
  e.family('tuntcp_tcp_connections_opened_total', 'counter', 'TCP connections opened: active (connect) and passive (accepted SYN).', [
    [{ side: 'active' }, c.tcpActiveOpens],
    [{ side: 'passive' }, c.tcpPassiveOpens],
  ]);
  e.family('tuntcp_tcp_connections_closed_total', 'counter', 'TCP connections closed (reaching CLOSED or TIME-WAIT).', [[{}, c.tcpConnectionsClosed]]);
  const byState = new Map<TcpState, number>();
  for (const s of GAUGE_STATES) byState.set(s, 0);
  for (const conn of connections) byState.set(conn.state, (byState.get(conn.state) ?? 0) + 1);
  byState.set(TcpState.TIME_WAIT, (byState.get(TcpState.TIME_WAIT) ?? 0) + (opts.timeWait ?? 0));
  e.family(
    'tuntcp_tcp_connections',
    'gauge',
    'TCP connections now, by RFC 9293 state.',
    [...byState].map(([s, n]): [Labels, number] => [{ state: s }, n]),
  );
  return e.toString();
}
