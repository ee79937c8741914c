/**
 * `tuntcp stats` output: the connection table, in the spirit of `ss -ti`, plus one
 * summary line of counters; `--json` prints the data instead.
 *
 *   State        Local           Peer                cwnd  srtt(ms)  rto(ms)  retrans  bytes in  bytes out
 *   ESTABLISHED  10.77.0.2:80    10.77.0.1:45678    14600     0.412      201        0        78       1234
 */
import type { ConnectionInfo } from '../trace/connection-info';
import type { StatsReply } from './stats';

export interface StatsTableOptions {
  /** JSON (pretty-printed) instead of a table. */
  json?: boolean;
}

type Column = { title: string; right: boolean; cell: (c: ConnectionInfo) => string };

const ms = (v: number | null): string => (v === null ? '-' : String(Math.round(v * 1000) / 1000));

const COLUMNS: readonly Column[] = [
  { title: 'State', right: false, cell: (c) => c.state },
  { title: 'Local', right: false, cell: (c) => c.local },
  { title: 'Peer', right: false, cell: (c) => c.remote },
  { title: 'cwnd', right: true, cell: (c) => String(c.cwnd) },
  { title: 'srtt(ms)', right: true, cell: (c) => ms(c.srtt) },
  { title: 'rto(ms)', right: true, cell: (c) => ms(c.rto) },
  { title: 'retrans', right: true, cell: (c) => String(c.retransmits) },
  { title: 'bytes in', right: true, cell: (c) => String(c.bytesIn) },
  { title: 'bytes out', right: true, cell: (c) => String(c.bytesOut) },
];

/** The connection table (ends with a newline). */
export function renderStatsTable(connections: readonly ConnectionInfo[], opts: StatsTableOptions = {}): string {
  if (opts.json ?? false) return `${JSON.stringify(connections, null, 2)}\n`;
  const rows = connections.map((c) => COLUMNS.map((col) => col.cell(c)));
  const widths = COLUMNS.map((col, i) => Math.max(col.title.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((s, i) => (COLUMNS[i]!.right ? s.padStart(widths[i]!) : s.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const lines = [fmt(COLUMNS.map((c) => c.title)), ...rows.map(fmt)];
  if (connections.length === 0) lines.push('(no connections)');
  return `${lines.join('\n')}\n`;
}

/** Table plus a counters summary: what `tuntcp stats` prints (`--json`: the whole reply). */
export function renderStatsReply(reply: StatsReply, opts: StatsTableOptions = {}): string {
  if (opts.json ?? false) return `${JSON.stringify(reply, null, 2)}\n`;
  const c = reply.counters;
  const drops = Object.entries(c.drops).filter(([, n]) => n > 0);
  const dropText = drops.length === 0 ? 'drops 0' : `drops ${drops.reduce((s, [, n]) => s + n, 0)} (${drops.map(([r, n]) => `${r} ${n}`).join(', ')})`;
  const summary =
    `packets in/out: ip ${c.ipIn}/${c.ipOut}, tcp ${c.tcpIn}/${c.tcpOut}, icmp ${c.icmpIn}/${c.icmpOut}; ${dropText}; ` +
    `retransmitted ${c.tcpRetransmits}; opened active ${c.tcpActiveOpens}, passive ${c.tcpPassiveOpens}; closed ${c.tcpConnectionsClosed}; TIME-WAIT ${reply.timeWait}`;
  const workers =
    reply.workers === undefined
      ? ''
      : `workers: ${reply.workers.map((w) => `#${w.worker} ${w.connections} live, ${w.passiveOpens + w.activeOpens} opened, ${w.packetsIn} packets in`).join('; ')}\n`;
  return `${renderStatsTable(reply.connections)}${summary}\n${workers}`;
}
