/**
 * IPv4 input and protocol demultiplexing (RFC 791 §3.1, RFC 1122 §3.2.1).
 *
 * `input()` is called once per packet from the link with a view of the link's read
 * buffer. Validation runs in the order of the header: length, version, IHL, total length,
 * checksum, TTL, addresses. A packet that fails is dropped and counted under its reason;
 * nothing on this path throws. Fragments go to the reassembler; whole datagrams go to
 * the transport registered for their protocol, or draw an ICMP protocol unreachable.
 */
import { Counters, DropReason } from '../counters';
import { Link } from '../link/link';
import { IcmpType, IcmpUnreachableCode } from '../wire/icmp';
import { IPV4_MIN_HEADER_LEN, IpProtocol, Ipv4View } from '../wire/ipv4';
import { Icmp, isUnicastHost } from './icmp';
import { Ipv4Output } from './ipv4-output';
import { PendingDatagram, ReassemblyOptions, Reassembler } from './reassembly';

/**
 * A transport protocol's input: the datagram's addresses and its payload. `rxFlags` are
 * the link's RxFlag bits (CHECKSUM_OK: do not verify the transport checksum).
 */
export interface TransportInput {
  (src: number, dst: number, buf: Buffer, off: number, len: number, now: number, rxFlags: number): void;
}

export interface IpLayerOptions {
  /** The stack's own address. */
  address: number;
  reassembly?: ReassemblyOptions;
  /** Seeds the IP identification counter. */
  initialId?: number;
}

export class IpLayer {
  readonly output: Ipv4Output;
  readonly icmp: Icmp;
  readonly reassembler: Reassembler;
  readonly address: number;
  private readonly view = new Ipv4View();
  private readonly transports: (TransportInput | undefined)[] = new Array(256);

  constructor(link: Link, readonly counters: Counters, opts: IpLayerOptions) {
    this.address = opts.address >>> 0;
    this.output = new Ipv4Output(link, counters, this.address, opts.initialId ?? 0);
    this.icmp = new Icmp(this.output, counters);
    this.reassembler = new Reassembler(counters, opts.reassembly);
  }

  /** Register the input for an IP protocol number (6 for TCP). */
  register(protocol: number, input: TransportInput): void {
    this.transports[protocol] = input;
  }

  /** One datagram from the link; `rxFlags` are its RxFlag bits (link.ts). */
  input(buf: Buffer, off: number, len: number, now: number, rxFlags = 0): void {
    const c = this.counters;
    c.ipIn++;
    if (len < IPV4_MIN_HEADER_LEN) return c.drop(len >= 1 && buf[off]! >> 4 !== 4 ? DropReason.IP_BAD_VERSION : DropReason.IP_TRUNCATED);
    const ip = this.view.wrap(buf, off, len);
    if (ip.version !== 4) return c.drop(DropReason.IP_BAD_VERSION);
    const hlen = ip.headerLength;
    // RFC 791 §3.1: IHL counts 32-bit words and is at least 5.
    if (hlen < IPV4_MIN_HEADER_LEN || hlen > len) return c.drop(DropReason.IP_BAD_IHL);
    // RFC 1122 §3.2.1.1 (via 791): total length covers header and data; more bytes than
    // it says is link padding and is ignored, fewer is a truncated datagram.
    const total = ip.totalLength;
    if (total < hlen || total > len) return c.drop(DropReason.IP_BAD_TOTAL_LENGTH);
    // RFC 1122 §3.2.1.2: a host MUST verify the header checksum and silently discard a
    // datagram that fails.
    if (!ip.headerChecksumOk()) return c.drop(DropReason.IP_BAD_CHECKSUM);
    // RFC 1122 §3.2.1.7: a host MUST NOT send a datagram with TTL 0, so one that arrives
    // with 0 was forged or mangled. (Below 2 is otherwise fine for a host.)
    if (ip.ttl === 0) return c.drop(DropReason.IP_TTL_ZERO);
    // RFC 1122 §3.2.1.3: discard datagrams from a source that is not a unicast host.
    if (!isUnicastHost(ip.src)) return c.drop(DropReason.IP_BAD_SOURCE);
    // We are a host with one address and no forwarding (RFC 1122 §3.3.4.2).
    if (ip.dst !== this.address) return c.drop(DropReason.IP_NOT_FOR_US);

    const src = ip.src;
    const dst = ip.dst;
    const protocol = ip.protocol;
    if (ip.moreFragments || ip.fragmentOffset !== 0) {
      c.ipFragmentsIn++;
      const r = this.reassembler.add(now, src, dst, protocol, ip.identification, ip.fragmentOffset, ip.moreFragments, buf, off, hlen, off + hlen, total - hlen);
      if (r.kind !== 'complete') return;
      c.ipReassembled++;
      const d = r.datagram;
      const header = d.firstFragment!;
      // A reassembled datagram's checksum is ours to verify, whatever the link said.
      return this.deliver(src, dst, protocol, d.buf, 0, d.totalLength, header, 0, header.length, now, 0);
    }
    this.deliver(src, dst, protocol, buf, off + hlen, total - hlen, buf, off, total, now, rxFlags);
  }

  /** Hand a whole datagram's payload to its transport. `hdrBuf` locates the IP datagram for ICMP quoting. */
  private deliver(src: number, dst: number, protocol: number, buf: Buffer, off: number, len: number, hdrBuf: Buffer, hdrOff: number, hdrAvail: number, now: number, rxFlags: number): void {
    if (protocol === IpProtocol.ICMP) return this.icmp.input(src, buf, off, len, now);
    const t = this.transports[protocol];
    if (t !== undefined) return t(src, dst, buf, off, len, now, rxFlags);
    // RFC 1122 §3.2.2.1: a host SHOULD send protocol unreachable for a protocol it lacks.
    this.counters.drop(DropReason.IP_UNKNOWN_PROTOCOL);
    this.icmp.sendError(IcmpType.DEST_UNREACHABLE, IcmpUnreachableCode.PROTOCOL, 0, hdrBuf, hdrOff, hdrAvail, now);
  }

  /** The earliest time `poll()` has work to do, or Infinity. */
  nextDeadline(): number {
    return this.reassembler.nextDeadline();
  }

  /** Run timers: expire reassembly, sending time exceeded (code 1) per RFC 792. */
  poll(now: number): void {
    this.reassembler.expire(now, this.reassemblyTimedOut);
  }

  private readonly reassemblyTimedOut = (d: PendingDatagram): void => {
    // RFC 792 "Time Exceeded Message": code 1, only if the first fragment arrived.
    if (d.firstFragment === null) return;
    const f = d.firstFragment;
    this.icmp.sendError(IcmpType.TIME_EXCEEDED, 1, 0, f, 0, f.length, d.deadline);
  };
}
