/**
 * IPv4 header view and builder (RFC 791 §3.1), and address helpers.
 *
 * Offsets come from `ipv4Layout` (layout.ts). The view does not validate: the IP layer
 * checks version, IHL, total length and checksum in that order before trusting the rest.
 */
import { WireView, readU16BE, readU32BE, readU8, writeU16BE, writeU32BE, writeU8 } from './bytes';
import { internetChecksum, onesComplementSum } from './checksum';
import { bitsOf, ipv4Layout, offsetsOf } from './layout';

/** Byte offsets of the IPv4 header fields, derived from `ipv4Layout`. */
export const IPV4 = offsetsOf(ipv4Layout);
/** Bit positions of version and IHL within byte 0. */
export const IPV4_VIHL = bitsOf(ipv4Layout, 'versionIhl');
/** Bit positions of the flags and fragment offset within bytes 6-7. */
export const IPV4_FF = bitsOf(ipv4Layout, 'flagsFragment');

/** RFC 791 §3.1: a header without options is 20 bytes (IHL 5). */
export const IPV4_MIN_HEADER_LEN = ipv4Layout.span;
/** RFC 791 §3.1: IHL is 4 bits of 32-bit words, so at most 60 bytes. */
export const IPV4_MAX_HEADER_LEN = IPV4_VIHL.ihl.mask * 4;
/** Don't Fragment, in the raw 16-bit flags/fragment-offset field (0x4000). */
export const IPV4_FLAG_DF = IPV4_FF.dontFragment.wordMask;
/** More Fragments, in the raw 16-bit flags/fragment-offset field (0x2000). */
export const IPV4_FLAG_MF = IPV4_FF.moreFragments.wordMask;
/** The fragment offset (in 8-byte units) in the raw 16-bit field (0x1fff). */
export const IPV4_FRAG_OFFSET_MASK = IPV4_FF.fragmentOffset.wordMask;

/** RFC 790 ("Assigned Numbers") protocol numbers, now kept by IANA. */
export const IpProtocol = { ICMP: 1, TCP: 6, UDP: 17 } as const;
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol];

const VERSION = IPV4_VIHL.version;
const IHL = IPV4_VIHL.ihl;
const FRAG = IPV4_FF.fragmentOffset;

/**
 * A reusable view of an IPv4 header at `buf[off..off+len)`. Getters read the bytes each
 * time; a field past the end of `buf` reads as 0, so no getter throws.
 */
export class Ipv4View extends WireView {
  get version(): number {
    return (readU8(this.buf, this.off + VERSION.offset) >>> VERSION.shift) & VERSION.mask;
  }

  /** Header length in bytes: IHL counts 32-bit words (RFC 791 §3.1). */
  get headerLength(): number {
    return ((readU8(this.buf, this.off + IHL.offset) >>> IHL.shift) & IHL.mask) * 4;
  }

  get tos(): number {
    return readU8(this.buf, this.off + IPV4.tos);
  }

  get totalLength(): number {
    return readU16BE(this.buf, this.off + IPV4.totalLength);
  }

  get identification(): number {
    return readU16BE(this.buf, this.off + IPV4.identification);
  }

  /** The raw 16-bit flags and fragment offset field. */
  get flagsFragment(): number {
    return readU16BE(this.buf, this.off + IPV4.flagsFragment);
  }

  get dontFragment(): boolean {
    return (this.flagsFragment & IPV4_FLAG_DF) !== 0;
  }

  get moreFragments(): boolean {
    return (this.flagsFragment & IPV4_FLAG_MF) !== 0;
  }

  /** Fragment offset in BYTES (the field counts 8-byte units, RFC 791 §3.1). */
  get fragmentOffset(): number {
    return ((this.flagsFragment >>> FRAG.shift) & FRAG.mask) * 8;
  }

  get ttl(): number {
    return readU8(this.buf, this.off + IPV4.ttl);
  }

  get protocol(): number {
    return readU8(this.buf, this.off + IPV4.protocol);
  }

  get checksum(): number {
    return readU16BE(this.buf, this.off + IPV4.checksum);
  }

  get src(): number {
    return readU32BE(this.buf, this.off + IPV4.src);
  }

  get dst(): number {
    return readU32BE(this.buf, this.off + IPV4.dst);
  }

  /** Absolute offset of the payload: `off + headerLength`. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }

  /** RFC 791 §3.1: the checksum over `headerLength` bytes (options included) verifies. */
  headerChecksumOk(): boolean {
    return onesComplementSum(this.buf, this.off, this.headerLength) === 0xffff;
  }
}

/**
 * Write a 20-byte IPv4 header (version 4, IHL 5, no options) at `off`, checksum
 * included. `flagsFragment` is the raw 16-bit field: IPV4_FLAG_DF / IPV4_FLAG_MF ORed
 * with the fragment offset in 8-byte units. Every byte of the header is written.
 */
export function writeIpv4Header(
  buf: Buffer,
  off: number,
  totalLength: number,
  identification: number,
  flagsFragment: number,
  ttl: number,
  protocol: number,
  src: number,
  dst: number,
  tos = 0,
): void {
  writeU8(buf, off + VERSION.offset, (4 << VERSION.shift) | ((IPV4_MIN_HEADER_LEN >>> 2) << IHL.shift));
  writeU8(buf, off + IPV4.tos, tos);
  writeU16BE(buf, off + IPV4.totalLength, totalLength);
  writeU16BE(buf, off + IPV4.identification, identification);
  writeU16BE(buf, off + IPV4.flagsFragment, flagsFragment);
  writeU8(buf, off + IPV4.ttl, ttl);
  writeU8(buf, off + IPV4.protocol, protocol);
  writeU16BE(buf, off + IPV4.checksum, 0);
  writeU32BE(buf, off + IPV4.src, src);
  writeU32BE(buf, off + IPV4.dst, dst);
  writeU16BE(buf, off + IPV4.checksum, internetChecksum(buf, off, IPV4_MIN_HEADER_LEN));
}

// --- addresses ------------------------------------------------------------------------

/** Dotted quad of a uint32 address. */
export function ipv4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** 0, or 1-255 without leading zeros: "010" is refused (inet_aton would read octal). */
const OCTET = /^(?:0|[1-9]\d{0,2})$/;

/**
 * A strict dotted quad ("10.77.0.2") to a uint32, or null: exactly four decimal octets
 * 0..255, no leading zeros, no spaces, no shorthand forms ("10.1", hex, octal).
 */
export function parseIpv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let a = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    a = a * 256 + n;
  }
  return a >>> 0;
}

/** "10.77.0.1/24" to its address and prefix length, or null; the prefix is required. */
export function parseCidr(s: string): { address: number; prefix: number } | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const address = parseIpv4(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (address === null || !/^(?:0|[1-9]\d?)$/.test(p)) return null;
  const prefix = Number(p);
  if (prefix > 32) return null;
  return { address, prefix };
}

/** The netmask of a prefix length: 24 -> 0xffffff00. Clamped to 0..32. */
export function prefixToMask(prefix: number): number {
  if (!(prefix > 0)) return 0;
  if (prefix >= 32) return 0xffffffff;
  return (0xffffffff << (32 - prefix)) >>> 0;
}

/** Whether two addresses share the first `prefix` bits. */
export function sameSubnet(a: number, b: number, prefix: number): boolean {
  return ((a ^ b) & prefixToMask(prefix)) === 0;
}
