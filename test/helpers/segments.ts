/**
 * Decode and build TCP/IPv4 packets in tests, so assertions read like a trace:
 * `{ flags: 'SYN,ACK', seq, ack, len }`.
 */
import { IPV4_FLAG_DF, IpProtocol, Ipv4View, parseIpv4, writeIpv4Header } from '../../src/wire/ipv4';
import { TcpView, finishTcpChecksum, flagsToString, writeTcpHeader } from '../../src/wire/tcp';
import { TcpOptions, parseTcpOptions, tcpOptionsLength, writeTcpOptions } from '../../src/wire/tcp-options';

export interface Decoded {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  flags: string;
  seq: number;
  ack: number;
  win: number;
  len: number;
  payload: Buffer;
  mss: number;
  wscale: number;
}

export function decode(pkt: Buffer): Decoded {
  const ip = new Ipv4View().wrap(pkt, 0, pkt.length);
  if (ip.protocol !== IpProtocol.TCP) throw new Error(`not TCP: protocol ${ip.protocol}`);
  const hl = ip.headerLength;
  const tcp = new TcpView().wrap(pkt, hl, ip.totalLength - hl);
  const opts = new TcpOptions();
  parseTcpOptions(pkt, tcp.optionsOffset, tcp.optionsLength, opts);
  return {
    src: ip.src,
    dst: ip.dst,
    sport: tcp.srcPort,
    dport: tcp.dstPort,
    flags: flagsToString(tcp.flags),
    seq: tcp.seq,
    ack: tcp.ack,
    win: tcp.window,
    len: tcp.payloadLength,
    payload: Buffer.from(pkt.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength)),
    mss: opts.mss,
    wscale: opts.windowScale,
  };
}

/** Short form for assertions: "SYN,ACK seq=… ack=… len=…". */
export function brief(d: Decoded, isnA = 0, isnB = 0): string {
  void isnA;
  void isnB;
  return `${d.flags} seq=${d.seq} ack=${d.ack} len=${d.len}`;
}

export interface SegmentSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  win?: number;
  payload?: Buffer;
  mss?: number;
  wscale?: number;
}

/** A complete, valid IPv4+TCP packet. */
export function buildSegment(s: SegmentSpec): Buffer {
  const opts = new TcpOptions();
  if (s.mss !== undefined) opts.mss = s.mss;
  if (s.wscale !== undefined) opts.windowScale = s.wscale;
  const syn = (s.flags & 0x02) !== 0;
  const optLen = syn ? tcpOptionsLength(opts, true) : 0;
  const payload = s.payload ?? Buffer.alloc(0);
  const tcpLen = 20 + optLen + payload.length;
  const pkt = Buffer.alloc(20 + tcpLen);
  const src = parseIpv4(s.src)!;
  const dst = parseIpv4(s.dst)!;
  writeIpv4Header(pkt, 0, pkt.length, 1, IPV4_FLAG_DF, 64, IpProtocol.TCP, src, dst);
  writeTcpHeader(pkt, 20, s.sport, s.dport, s.seq >>> 0, (s.ack ?? 0) >>> 0, 20 + optLen, s.flags, s.win ?? 65535, 0);
  if (optLen > 0) writeTcpOptions(pkt, 40, opts, true);
  payload.copy(pkt, 20 + 20 + optLen);
  finishTcpChecksum(pkt, 20, tcpLen, src, dst);
  return pkt;
}
