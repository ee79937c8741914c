/**
 * ICMP (RFC 792): echo replies, and the error messages a host sends (protocol
 * unreachable, reassembly time exceeded), under RFC 1122 §3.2.2's rules for when an
 * error must not be sent and a token-bucket rate limit (RFC 1812 §4.3.2.8; Linux's
 * icmp_ratelimit does the same job).
 */
import { Counters, DropReason } from '../counters';
import { ICMP_HEADER_LEN, IcmpType, IcmpView, finishIcmpChecksum, writeIcmpHeader } from '../wire/icmp';
import { IpProtocol, Ipv4View } from '../wire/ipv4';
import { Ipv4Output } from './ipv4-output';

/**
 * RFC 1812 §4.3.2.3 (and Linux): an error quotes as much of the offending datagram as
 * fits in 576 bytes, the minimum datagram every host accepts (RFC 791 §3.1).
 */
const MAX_ERROR_DATAGRAM = 576;
const IP_HEADER = 20;
/** The largest ICMP message we build: an echo reply to a 64 KiB request. */
const SCRATCH_SIZE = 65536;

/** A soft error for the transport layer (RFC 1122 §4.2.3.9): the quoted header and data. */
export interface IcmpErrorHandler {
  (type: number, code: number, quoted: Buffer, off: number, len: number, now: number): void;
}

export class Icmp {
  private readonly view = new IcmpView();
  private readonly quotedIp = new Ipv4View();
  private readonly scratch = Buffer.alloc(SCRATCH_SIZE);
  private tokens: number;
  private lastRefill = -Infinity;
  /** Receives ICMP errors about our own datagrams (dest unreachable, time exceeded...). */
  onError: IcmpErrorHandler | null = null;

  constructor(
    private readonly out: Ipv4Output,
    private readonly counters: Counters,
    /** Error messages per second, steady state; bursts up to `burst`. */
    private readonly ratePerSecond = 1000,
    private readonly burst = 50,
  ) {
    this.tokens = burst;
  }

  /** An ICMP message addressed to us: `off`/`len` locate the ICMP header and data. */
  input(src: number, buf: Buffer, off: number, len: number, now: number): void {
    this.counters.icmpIn++;
    if (len < ICMP_HEADER_LEN) return this.counters.drop(DropReason.ICMP_TRUNCATED);
    const icmp = this.view.wrap(buf, off, len);
    if (!icmp.checksumOk()) return this.counters.drop(DropReason.ICMP_BAD_CHECKSUM);
    switch (icmp.type) {
      case IcmpType.ECHO_REQUEST:
        return this.echoReply(src, buf, off, len);
      case IcmpType.DEST_UNREACHABLE:
      case IcmpType.TIME_EXCEEDED:
      case IcmpType.PARAMETER_PROBLEM:
        this.counters.icmpErrorsIn++;
        if (this.onError !== null) this.onError(icmp.type, icmp.code, buf, off + ICMP_HEADER_LEN, len - ICMP_HEADER_LEN, now);
        return;
      default:
        // Echo replies (we send no requests), timestamps, obsolete types: RFC 1122 §3.2.2
        // says to silently discard unknown types.
        return this.counters.drop(DropReason.ICMP_UNHANDLED_TYPE);
    }
  }

  /** RFC 792 "Echo or Echo Reply Message": same identifier, sequence and data, type 0. */
  private echoReply(dst: number, buf: Buffer, off: number, len: number): void {
    const s = this.scratch;
    buf.copy(s, 0, off, off + len);
    s[0] = IcmpType.ECHO_REPLY;
    s[1] = 0;
    finishIcmpChecksum(s, 0, len);
    this.out.sendDatagram(IpProtocol.ICMP, dst, s, 0, len);
    this.counters.icmpOut++;
    this.counters.icmpEchoReplies++;
  }

  /**
   * Send an error about the datagram whose IP header starts at `ipOff` (`ipLen` bytes of
   * it available). `restOfHeader` is the 32-bit field after the checksum (0 for most).
   */
  sendError(type: number, code: number, restOfHeader: number, buf: Buffer, ipOff: number, ipLen: number, now: number): void {
    const ip = this.quotedIp.wrap(buf, ipOff, ipLen);
    // RFC 1122 §3.2.2: never about an ICMP error, a non-initial fragment, or a datagram
    // whose source is not a unicast host address.
    if (ip.fragmentOffset !== 0) return;
    if (!isUnicastHost(ip.src)) return;
    if (ip.protocol === IpProtocol.ICMP && ipLen >= ip.headerLength + 1) {
      const t = buf[ipOff + ip.headerLength]!;
      if (t !== IcmpType.ECHO_REQUEST && t !== IcmpType.ECHO_REPLY) return;
    }
    if (!this.takeToken(now)) return;
    const quoted = Math.min(ipLen, MAX_ERROR_DATAGRAM - IP_HEADER - ICMP_HEADER_LEN);
    const s = this.scratch;
    writeIcmpHeader(s, 0, type, code, restOfHeader);
    buf.copy(s, ICMP_HEADER_LEN, ipOff, ipOff + quoted);
    finishIcmpChecksum(s, 0, ICMP_HEADER_LEN + quoted);
    this.out.sendDatagram(IpProtocol.ICMP, ip.src, s, 0, ICMP_HEADER_LEN + quoted);
    this.counters.icmpOut++;
  }

  private takeToken(now: number): boolean {
    const elapsed = now - this.lastRefill;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.lastRefill = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Not 0.0.0.0/8, loopback, multicast, or the limited broadcast (RFC 1122 §3.2.1.3). */
export function isUnicastHost(a: number): boolean {
  const first = a >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}
