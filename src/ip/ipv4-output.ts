/**
 * IPv4 output (RFC 791 §3.1, §3.2 "fragmentation"): every datagram gets a fresh
 * identification, TTL 64 and the header checksum; one larger than the link MTU is cut
 * into fragments whose payloads are multiples of 8 bytes.
 *
 * The common path (a TCP segment) is written in place in the link's transmit buffer:
 * `begin()` reserves room and returns where the transport payload goes, the transport
 * writes its header and data there, and `end()` writes the IP header in front of it.
 */
import { Counters } from '../counters';
import { Link } from '../link/link';
import { IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_MIN_HEADER_LEN, writeIpv4Header } from '../wire/ipv4';

/** Linux's net.ipv4.ip_default_ttl; RFC 1700 recommends 64 as well. */
export const DEFAULT_TTL = 64;

export class Ipv4Output {
  private nextId: number;
  private packetOff = -1;

  constructor(
    private readonly link: Link,
    private readonly counters: Counters,
    readonly address: number,
    /** Seeds the identification counter (RFC 6864 §4.1 leaves the choice open). */
    initialId = 0,
    readonly ttl = DEFAULT_TTL,
  ) {
    this.nextId = initialId & 0xffff;
  }

  get mtu(): number {
    return this.link.mtu;
  }

  /** The link finishes TCP checksums and segments large TCP packets (Link.tcpOffload). */
  get tcpOffload(): boolean {
    return this.link.tcpOffload;
  }

  /** The largest datagram the link takes (Link.maxPacket). */
  get maxPacket(): number {
    return this.link.maxPacket;
  }

  /** The largest transport payload that fits the link in one datagram. */
  get maxPayload(): number {
    return this.link.mtu - IPV4_MIN_HEADER_LEN;
  }

  /** The buffer `begin()` offsets point into. */
  get buf(): Buffer {
    return this.link.txBuf;
  }

  /** Reserve room for a transport payload of at most `maxPayload` bytes; returns its offset in `buf`. */
  begin(maxPayload: number): number {
    this.packetOff = this.link.reserve(IPV4_MIN_HEADER_LEN + maxPayload);
    return this.packetOff + IPV4_MIN_HEADER_LEN;
  }

  /**
   * Finish the datagram started by `begin()`: write its header and hand it to the link.
   * `tcpSegSize` > 0 marks a TCP segment whose checksum the link finishes (Link.commit).
   */
  end(protocol: number, dst: number, payloadLen: number, dontFragment: boolean, tcpSegSize = 0): void {
    const off = this.packetOff;
    const total = IPV4_MIN_HEADER_LEN + payloadLen;
    writeIpv4Header(this.link.txBuf, off, total, this.takeId(), dontFragment ? IPV4_FLAG_DF : 0, this.ttl, protocol, this.address, dst);
    this.link.commit(off, total, tcpSegSize);
    this.packetOff = -1;
    this.counters.ipOut++;
  }

  /**
   * Send `len` bytes at `src[off]` as one datagram, fragmenting it if it does not fit the
   * MTU (RFC 791 §3.2: each fragment but the last carries a multiple of 8 bytes and MF).
   */
  sendDatagram(protocol: number, dst: number, src: Buffer, off: number, len: number): void {
    const maxFrag = (this.link.mtu - IPV4_MIN_HEADER_LEN) & ~7;
    if (len <= this.link.mtu - IPV4_MIN_HEADER_LEN) {
      const at = this.begin(len);
      src.copy(this.link.txBuf, at, off, off + len);
      this.end(protocol, dst, len, false);
      return;
    }
    const id = this.takeId();
    for (let done = 0; done < len; done += maxFrag) {
      const n = Math.min(maxFrag, len - done);
      const more = done + n < len;
      const total = IPV4_MIN_HEADER_LEN + n;
      const p = this.link.reserve(total);
      writeIpv4Header(this.link.txBuf, p, total, id, (more ? IPV4_FLAG_MF : 0) | (done >>> 3), this.ttl, protocol, this.address, dst);
      src.copy(this.link.txBuf, p + IPV4_MIN_HEADER_LEN, off + done, off + done + n);
      this.link.commit(p, total);
      this.counters.ipFragmentsOut++;
    }
    this.counters.ipOut++;
  }

  private takeId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) & 0xffff;
    return id;
  }
}
