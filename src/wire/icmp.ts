/**
 * ICMP message view and builder (RFC 792). Offsets come from `icmpLayout` and, for echo
 * messages, `icmpEchoRestLayout` (layout.ts).
 */
import { WireView, readU16BE, readU32BE, readU8, writeU16BE, writeU32BE, writeU8 } from './bytes';
import { internetChecksum, onesComplementSum } from './checksum';
import { icmpEchoRestLayout, icmpLayout, offsetsOf } from './layout';

/** Byte offsets of the ICMP header fields, derived from `icmpLayout`. */
export const ICMP = offsetsOf(icmpLayout);
/** Offsets of identifier and sequence within the rest-of-header of echo messages. */
export const ICMP_ECHO = offsetsOf(icmpEchoRestLayout);

/** RFC 792: type, code, checksum and 4 bytes of rest-of-header. */
export const ICMP_HEADER_LEN = icmpLayout.span;

/** RFC 792 message types. */
export const IcmpType = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
  PARAMETER_PROBLEM: 12,
} as const;
export type IcmpType = (typeof IcmpType)[keyof typeof IcmpType];

/** RFC 792 Destination Unreachable codes (4: RFC 1191 carries the next-hop MTU). */
export const IcmpUnreachableCode = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  FRAGMENTATION_NEEDED: 4,
} as const;
export type IcmpUnreachableCode = (typeof IcmpUnreachableCode)[keyof typeof IcmpUnreachableCode];

const ECHO_ID = ICMP.restOfHeader + ICMP_ECHO.identifier;
const ECHO_SEQ = ICMP.restOfHeader + ICMP_ECHO.sequence;

/** A reusable view of an ICMP message at `buf[off..off+len)`; no getter throws. */
export class IcmpView extends WireView {
  get type(): number {
    return readU8(this.buf, this.off + ICMP.type);
  }

  get code(): number {
    return readU8(this.buf, this.off + ICMP.code);
  }

  get checksum(): number {
    return readU16BE(this.buf, this.off + ICMP.checksum);
  }

  /** The 4 type-specific bytes after the checksum, as a uint32. */
  get restOfHeader(): number {
    return readU32BE(this.buf, this.off + ICMP.restOfHeader);
  }

  /** Echo and echo reply (RFC 792): identifier. */
  get identifier(): number {
    return readU16BE(this.buf, this.off + ECHO_ID);
  }

  /** Echo and echo reply (RFC 792): sequence number. */
  get sequence(): number {
    return readU16BE(this.buf, this.off + ECHO_SEQ);
  }

  /** RFC 792: the checksum covers the whole ICMP message, `len` bytes. */
  checksumOk(): boolean {
    return onesComplementSum(this.buf, this.off, this.len) === 0xffff;
  }
}

/** Write the 8-byte ICMP header with a zero checksum; finish with `finishIcmpChecksum`. */
export function writeIcmpHeader(buf: Buffer, off: number, type: number, code: number, restOfHeader: number): void {
  writeU8(buf, off + ICMP.type, type);
  writeU8(buf, off + ICMP.code, code);
  writeU16BE(buf, off + ICMP.checksum, 0);
  writeU32BE(buf, off + ICMP.restOfHeader, restOfHeader);
}

/** Compute and store the checksum over the whole message (`len` bytes at `off`). */
export function finishIcmpChecksum(buf: Buffer, off: number, len: number): void {
  writeU16BE(buf, off + ICMP.checksum, 0);
  writeU16BE(buf, off + ICMP.checksum, internetChecksum(buf, off, len));
}
