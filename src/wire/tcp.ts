/**
 * TCP header view and builder (RFC 9293 §3.1). Offsets come from `tcpLayout`
 * (layout.ts); options are parsed and written by tcp-options.ts.
 */
import { WireView, readU16BE, readU32BE, readU8, writeU16BE, writeU32BE, writeU8 } from './bytes';
import { internetChecksum, onesComplementSum, pseudoHeaderSum } from './checksum';
import { IpProtocol } from './ipv4';
import { bitsOf, offsetsOf, tcpLayout } from './layout';

/** Byte offsets of the TCP header fields, derived from `tcpLayout`. */
export const TCP = offsetsOf(tcpLayout);
/** Bit position of the data offset within byte 12. */
export const TCP_DATA_OFFSET = bitsOf(tcpLayout, 'dataOffsetReserved').dataOffset;

/** RFC 9293 §3.1: a header without options is 20 bytes (data offset 5). */
export const TCP_MIN_HEADER_LEN = tcpLayout.span;
/** RFC 9293 §3.1: the data offset is 4 bits of 32-bit words, so at most 60 bytes. */
export const TCP_MAX_HEADER_LEN = TCP_DATA_OFFSET.mask * 4;
/** Room for options: 40 bytes. */
export const TCP_MAX_OPTIONS_LEN = TCP_MAX_HEADER_LEN - TCP_MIN_HEADER_LEN;

/** RFC 9293 §3.1 control bits (byte 13); ECE and CWR from RFC 3168 §23.2. */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;
export type TcpFlag = (typeof TcpFlag)[keyof typeof TcpFlag];

const DOFF = TCP_DATA_OFFSET;

/**
 * A reusable view of a TCP segment at `buf[off..off+len)`, `len` being the segment's
 * length (header and data) as the IP layer computed it. No getter throws; the TCP input
 * checks `headerLength` against 20 and `len` before using the options or payload.
 */
export class TcpView extends WireView {
  get srcPort(): number {
    return readU16BE(this.buf, this.off + TCP.srcPort);
  }

  get dstPort(): number {
    return readU16BE(this.buf, this.off + TCP.dstPort);
  }

  get seq(): number {
    return readU32BE(this.buf, this.off + TCP.seq);
  }

  get ack(): number {
    return readU32BE(this.buf, this.off + TCP.ack);
  }

  /** Header length in bytes: the data offset counts 32-bit words (RFC 9293 §3.1). */
  get headerLength(): number {
    return ((readU8(this.buf, this.off + DOFF.offset) >>> DOFF.shift) & DOFF.mask) * 4;
  }

  /** The 8 control bits; test with TcpFlag. */
  get flags(): number {
    return readU8(this.buf, this.off + TCP.flags);
  }

  get window(): number {
    return readU16BE(this.buf, this.off + TCP.window);
  }

  get checksum(): number {
    return readU16BE(this.buf, this.off + TCP.checksum);
  }

  get urgentPointer(): number {
    return readU16BE(this.buf, this.off + TCP.urgentPointer);
  }

  /** Absolute offset of the options: right after the fixed header. */
  get optionsOffset(): number {
    return this.off + TCP_MIN_HEADER_LEN;
  }

  /** `headerLength - 20`; negative when the data offset is malformed (< 5). */
  get optionsLength(): number {
    return this.headerLength - TCP_MIN_HEADER_LEN;
  }

  /** Absolute offset of the data. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }

  /** `len - headerLength`; negative when the data offset runs past the segment. */
  get payloadLength(): number {
    return this.len - this.headerLength;
  }

  /** RFC 9293 §3.1: the checksum over pseudo header, header and data verifies. */
  checksumOk(src: number, dst: number): boolean {
    const initial = pseudoHeaderSum(src, dst, IpProtocol.TCP, this.len);
    return onesComplementSum(this.buf, this.off, this.len, initial) === 0xffff;
  }
}

/**
 * Write the fixed 20-byte TCP header at `off` with a zero checksum. `headerLength` is in
 * bytes (20 + options, a multiple of 4); the options themselves are written after byte
 * 20 with `writeTcpOptions`, then the data, then `finishTcpChecksum`.
 */
export function writeTcpHeader(
  buf: Buffer,
  off: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  headerLength: number,
  flags: number,
  window: number,
  urgentPointer: number,
): void {
  writeU16BE(buf, off + TCP.srcPort, srcPort);
  writeU16BE(buf, off + TCP.dstPort, dstPort);
  writeU32BE(buf, off + TCP.seq, seq);
  writeU32BE(buf, off + TCP.ack, ack);
  // Reserved bits are zero (RFC 9293 §3.1).
  writeU8(buf, off + DOFF.offset, ((headerLength >>> 2) & DOFF.mask) << DOFF.shift);
  writeU8(buf, off + TCP.flags, flags);
  writeU16BE(buf, off + TCP.window, window);
  writeU16BE(buf, off + TCP.checksum, 0);
  writeU16BE(buf, off + TCP.urgentPointer, urgentPointer);
}

/** Compute and store the checksum of the `segmentLength`-byte segment at `off`. */
export function finishTcpChecksum(buf: Buffer, off: number, segmentLength: number, src: number, dst: number): void {
  writeU16BE(buf, off + TCP.checksum, 0);
  const initial = pseudoHeaderSum(src, dst, IpProtocol.TCP, segmentLength);
  writeU16BE(buf, off + TCP.checksum, internetChecksum(buf, off, segmentLength, initial));
}

/**
 * For a link that finishes TCP checksums (offload): store only the pseudo-header sum,
 * folded and not complemented, as the device expects (native-notes "Offloads"). The
 * device adds the segment's own sum and complements.
 */
export function writeTcpPartialChecksum(buf: Buffer, off: number, segmentLength: number, src: number, dst: number): void {
  writeU16BE(buf, off + TCP.checksum, pseudoHeaderSum(src, dst, IpProtocol.TCP, segmentLength));
}

const FLAG_NAMES = Object.keys(TcpFlag) as (keyof typeof TcpFlag)[];

/** "SYN,ACK" for tracing; "" when no flag is set. Allocates. */
export function flagsToString(flags: number): string {
  const names: string[] = [];
  for (const name of FLAG_NAMES) {
    if ((flags & TcpFlag[name]) !== 0) names.push(name);
  }
  return names.join(',');
}
