/**
 * Stack counters: packets in and out, and one counter per drop reason.
 *
 * The packet path never throws on bad input: it drops the packet and increments the
 * counter named for why (STYLE.md rule 8). Reasons are stable strings: they appear in
 * `tuntcp stats`, GET /metrics and the tests.
 */
export const DropReason = {
  // IPv4 input, RFC 791 §3.1 and RFC 1122 §3.2.1
  IP_TRUNCATED: 'ip_truncated',
  IP_BAD_VERSION: 'ip_bad_version',
  IP_BAD_IHL: 'ip_bad_ihl',
  IP_BAD_TOTAL_LENGTH: 'ip_bad_total_length',
  IP_BAD_CHECKSUM: 'ip_bad_checksum',
  IP_TTL_ZERO: 'ip_ttl_zero',
  IP_BAD_SOURCE: 'ip_bad_source',
  IP_NOT_FOR_US: 'ip_not_for_us',
  IP_UNKNOWN_PROTOCOL: 'ip_unknown_protocol',
  // fragment reassembly, RFC 791 §3.2 and RFC 815
  FRAG_OVERLAP: 'frag_overlap',
  FRAG_DUPLICATE: 'frag_duplicate',
  FRAG_TOO_BIG: 'frag_too_big',
  FRAG_BAD_LENGTH: 'frag_bad_length',
  FRAG_TIMEOUT: 'frag_timeout',
  FRAG_NO_MEMORY: 'frag_no_memory',
  // ICMP input, RFC 792
  ICMP_TRUNCATED: 'icmp_truncated',
  ICMP_BAD_CHECKSUM: 'icmp_bad_checksum',
  ICMP_UNHANDLED_TYPE: 'icmp_unhandled_type',
  // TCP input, RFC 9293 §3.10.7
  TCP_TRUNCATED: 'tcp_truncated',
  TCP_BAD_CHECKSUM: 'tcp_bad_checksum',
  TCP_BAD_DATA_OFFSET: 'tcp_bad_data_offset',
  TCP_BAD_OPTIONS: 'tcp_bad_options',
  TCP_BAD_PORT: 'tcp_bad_port',
  TCP_NO_SOCKET: 'tcp_no_socket',
  TCP_NOT_ACCEPTABLE: 'tcp_not_acceptable',
  TCP_BAD_ACK: 'tcp_bad_ack',
  TCP_LISTEN_OVERFLOW: 'tcp_listen_overflow',
  TCP_PAWS: 'tcp_paws',
  // link output
  LINK_TX_DROPPED: 'link_tx_dropped',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

const ALL_REASONS = Object.values(DropReason);

export class Counters {
  ipIn = 0;
  ipOut = 0;
  ipFragmentsIn = 0;
  ipReassembled = 0;
  ipFragmentsOut = 0;
  icmpIn = 0;
  icmpOut = 0;
  icmpEchoReplies = 0;
  icmpErrorsIn = 0;
  tcpIn = 0;
  tcpOut = 0;
  tcpRstOut = 0;
  tcpRetransmits = 0;
  tcpActiveOpens = 0;
  tcpPassiveOpens = 0;
  tcpConnectionsClosed = 0;
  /** One counter per drop reason; every reason is present, starting at 0. */
  readonly drops: Record<DropReason, number>;

  constructor() {
    const drops = {} as Record<DropReason, number>;
    for (const r of ALL_REASONS) drops[r] = 0;
    this.drops = drops;
  }

  drop(reason: DropReason): void {
    this.drops[reason]++;
  }

  get totalDrops(): number {
    let n = 0;
    for (const r of ALL_REASONS) n += this.drops[r];
    return n;
  }
}
