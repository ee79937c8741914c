/**
 * TCP options (RFC 9293 §3.2): a reusable parsed form, a parser that never throws or
 * allocates, and a writer with compact, 4-byte aligned layouts.
 *
 * Options handled: MSS (RFC 9293 §3.2, RFC 6691), Window Scale and Timestamps
 * (RFC 7323), SACK-Permitted and SACK (RFC 2018). Others are skipped by their length.
 */
import { readU16BE, readU32BE, readU8, writeU16BE, writeU32BE, writeU8 } from './bytes';
import {
  mssOptionLayout,
  offsetsOf,
  sackBlockLayout,
  sackPermittedOptionLayout,
  tcpOptionHeadLayout,
  timestampsOptionLayout,
  windowScaleOptionLayout,
} from './layout';
import { TCP_MAX_OPTIONS_LEN } from './tcp';

/** RFC 9293 §3.2 and the IANA registry. */
export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;
export type TcpOptionKind = (typeof TcpOptionKind)[keyof typeof TcpOptionKind];

const HEAD = offsetsOf(tcpOptionHeadLayout);
const MSS = offsetsOf(mssOptionLayout);
const WS = offsetsOf(windowScaleOptionLayout);
const TS = offsetsOf(timestampsOptionLayout);
const BLOCK = offsetsOf(sackBlockLayout);

/** Option lengths (the length byte's value), from the layouts. */
export const TCPOLEN_MSS = mssOptionLayout.span;
export const TCPOLEN_WINDOW_SCALE = windowScaleOptionLayout.span;
export const TCPOLEN_SACK_PERMITTED = sackPermittedOptionLayout.span;
export const TCPOLEN_TIMESTAMPS = timestampsOptionLayout.span;
/** A SACK option is kind and length, then 8 bytes per block (RFC 2018 §3). */
export const TCPOLEN_SACK_BASE = tcpOptionHeadLayout.span;
export const TCPOLEN_SACK_BLOCK = sackBlockLayout.span;

/** RFC 7323 §2.3: a shift count above 14 is taken as 14. */
export const TCP_MAX_WINDOW_SCALE = 14;
/** RFC 2018 §3: 40 bytes of option space hold at most 4 SACK blocks. */
export const TCP_MAX_SACK_BLOCKS = 4;

/**
 * The options of one segment, parsed or to be written. Reused across segments: no
 * allocation per packet. -1 means "absent" for `mss` and `windowScale`.
 */
export class TcpOptions {
  mss = -1;
  windowScale = -1;
  sackPermitted = false;
  hasTimestamps = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  /** SACK blocks as (left, right) pairs: block i is [2i], [2i+1]. */
  readonly sackBlocks = new Uint32Array(TCP_MAX_SACK_BLOCKS * 2);

  reset(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
    this.sackBlocks.fill(0);
  }

  /** Append a SACK block; false when all 4 are in use. */
  addSackBlock(left: number, right: number): boolean {
    if (this.sackCount >= TCP_MAX_SACK_BLOCKS) return false;
    this.sackBlocks[this.sackCount * 2] = left;
    this.sackBlocks[this.sackCount * 2 + 1] = right;
    this.sackCount++;
    return true;
  }

  copyFrom(o: TcpOptions): this {
    this.mss = o.mss;
    this.windowScale = o.windowScale;
    this.sackPermitted = o.sackPermitted;
    this.hasTimestamps = o.hasTimestamps;
    this.tsVal = o.tsVal;
    this.tsEcr = o.tsEcr;
    this.sackCount = o.sackCount;
    this.sackBlocks.set(o.sackBlocks);
    return this;
  }
}

/**
 * Parse the `len` option bytes at `off` into `out` (reset first). Returns false when the
 * options are malformed: a length byte missing, below 2 or running past the end, or a
 * known option with the wrong length. Unknown kinds are skipped by their length; EOL
 * ends the list (RFC 9293 §3.2). A later copy of an option overrides an earlier one.
 * The values are recorded whatever the segment's flags: whether e.g. MSS counts outside
 * a SYN is the TCP layer's decision (RFC 9293 §3.2 says it is only sent in SYNs).
 */
export function parseTcpOptions(buf: Buffer, off: number, len: number, out: TcpOptions): boolean {
  out.reset();
  const end = off + len;
  let i = off;
  while (i < end) {
    const kind = readU8(buf, i + HEAD.kind);
    if (kind === TcpOptionKind.EOL) return true;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    // RFC 9293 §3.2: every other option has a length byte counting kind and length.
    if (i + HEAD.length >= end) return false;
    const olen = readU8(buf, i + HEAD.length);
    if (olen < TCPOLEN_SACK_BASE || i + olen > end) return false;
    switch (kind) {
      case TcpOptionKind.MSS:
        if (olen !== TCPOLEN_MSS) return false;
        out.mss = readU16BE(buf, i + MSS.mss);
        break;
      case TcpOptionKind.WINDOW_SCALE: {
        if (olen !== TCPOLEN_WINDOW_SCALE) return false;
        // RFC 7323 §2.3: a shift above 14 MUST be used as 14.
        const shift = readU8(buf, i + WS.shift);
        out.windowScale = shift > TCP_MAX_WINDOW_SCALE ? TCP_MAX_WINDOW_SCALE : shift;
        break;
      }
      case TcpOptionKind.SACK_PERMITTED:
        if (olen !== TCPOLEN_SACK_PERMITTED) return false;
        out.sackPermitted = true;
        break;
      case TcpOptionKind.TIMESTAMPS:
        if (olen !== TCPOLEN_TIMESTAMPS) return false;
        out.hasTimestamps = true;
        out.tsVal = readU32BE(buf, i + TS.tsVal);
        out.tsEcr = readU32BE(buf, i + TS.tsEcr);
        break;
      case TcpOptionKind.SACK: {
        // RFC 2018 §3: length 2 + 8n, n from 1 to 4.
        const body = olen - TCPOLEN_SACK_BASE;
        const n = body / TCPOLEN_SACK_BLOCK;
        if (body % TCPOLEN_SACK_BLOCK !== 0 || n < 1 || n > TCP_MAX_SACK_BLOCKS) return false;
        let b = i + TCPOLEN_SACK_BASE;
        for (let k = 0; k < n; k++, b += TCPOLEN_SACK_BLOCK) {
          out.sackBlocks[2 * k] = readU32BE(buf, b + BLOCK.left);
          out.sackBlocks[2 * k + 1] = readU32BE(buf, b + BLOCK.right);
        }
        out.sackCount = n;
        break;
      }
      default:
        break;
    }
    i += olen;
  }
  return true;
}

// --- writing --------------------------------------------------------------------------
//
// Layouts, each a multiple of 4 bytes so no trailing padding is ever needed (the same
// choices Linux makes, tcp_options_write()):
//   MSS                 02 04 mm mm                                  (SYN only)
//   SACK-OK + TS        04 02 08 0a vvvvvvvv eeeeeeee                 (SYN with both)
//   TS                  01 01 08 0a vvvvvvvv eeeeeeee
//   SACK-OK             01 01 04 02                                  (SYN only)
//   WS                  01 03 03 ss                                  (SYN only)
//   SACK                01 01 05 len (left right)*n                  (as many blocks as fit)

const MSS_BYTES = TCPOLEN_MSS;
const TS_BYTES = 2 + TCPOLEN_TIMESTAMPS;
const SACK_OK_BYTES = 2 + TCPOLEN_SACK_PERMITTED;
const WS_BYTES = 1 + TCPOLEN_WINDOW_SCALE;
const SACK_HEAD_BYTES = 2 + TCPOLEN_SACK_BASE;

function fixedLength(opts: TcpOptions, syn: boolean): number {
  let n = 0;
  if (syn && opts.mss >= 0) n += MSS_BYTES;
  if (opts.hasTimestamps) n += TS_BYTES;
  else if (syn && opts.sackPermitted) n += SACK_OK_BYTES;
  if (syn && opts.windowScale >= 0) n += WS_BYTES;
  return n;
}

/** How many of the SACK blocks fit after `used` bytes: the last ones are dropped. */
function sackBlocksFitting(opts: TcpOptions, used: number): number {
  let n = opts.sackCount > TCP_MAX_SACK_BLOCKS ? TCP_MAX_SACK_BLOCKS : opts.sackCount;
  const room = Math.floor((TCP_MAX_OPTIONS_LEN - used - SACK_HEAD_BYTES) / TCPOLEN_SACK_BLOCK);
  if (n > room) n = room;
  return n > 0 ? n : 0;
}

/** The bytes `writeTcpOptions` will write for `opts`: a multiple of 4, at most 40. */
export function tcpOptionsLength(opts: TcpOptions, syn: boolean): number {
  const fixed = fixedLength(opts, syn);
  const blocks = sackBlocksFitting(opts, fixed);
  return blocks > 0 ? fixed + SACK_HEAD_BYTES + blocks * TCPOLEN_SACK_BLOCK : fixed;
}

/**
 * Write the options present in `opts` at `off`; returns the bytes written (a multiple
 * of 4, at most 40). MSS, window scale and SACK-permitted go only in a SYN
 * (RFC 9293 §3.2, RFC 7323 §2.2, RFC 2018 §2); timestamps and SACK blocks whenever
 * present. Every byte is written explicitly.
 */
export function writeTcpOptions(buf: Buffer, off: number, opts: TcpOptions, syn: boolean): number {
  const NOP = TcpOptionKind.NOP;
  let i = off;
  if (syn && opts.mss >= 0) {
    writeU8(buf, i + MSS.kind, TcpOptionKind.MSS);
    writeU8(buf, i + MSS.length, TCPOLEN_MSS);
    writeU16BE(buf, i + MSS.mss, opts.mss);
    i += MSS_BYTES;
  }
  const sackOk = syn && opts.sackPermitted;
  if (opts.hasTimestamps) {
    if (sackOk) {
      writeU8(buf, i, TcpOptionKind.SACK_PERMITTED);
      writeU8(buf, i + 1, TCPOLEN_SACK_PERMITTED);
    } else {
      writeU8(buf, i, NOP);
      writeU8(buf, i + 1, NOP);
    }
    i += 2;
    writeU8(buf, i + TS.kind, TcpOptionKind.TIMESTAMPS);
    writeU8(buf, i + TS.length, TCPOLEN_TIMESTAMPS);
    writeU32BE(buf, i + TS.tsVal, opts.tsVal);
    writeU32BE(buf, i + TS.tsEcr, opts.tsEcr);
    i += TCPOLEN_TIMESTAMPS;
  } else if (sackOk) {
    writeU8(buf, i, NOP);
    writeU8(buf, i + 1, NOP);
    writeU8(buf, i + 2, TcpOptionKind.SACK_PERMITTED);
    writeU8(buf, i + 3, TCPOLEN_SACK_PERMITTED);
    i += SACK_OK_BYTES;
  }
  if (syn && opts.windowScale >= 0) {
    writeU8(buf, i, NOP);
    i += 1;
    writeU8(buf, i + WS.kind, TcpOptionKind.WINDOW_SCALE);
    writeU8(buf, i + WS.length, TCPOLEN_WINDOW_SCALE);
    writeU8(buf, i + WS.shift, opts.windowScale);
    i += TCPOLEN_WINDOW_SCALE;
  }
  const blocks = sackBlocksFitting(opts, i - off);
  if (blocks > 0) {
    writeU8(buf, i, NOP);
    writeU8(buf, i + 1, NOP);
    writeU8(buf, i + 2 + HEAD.kind, TcpOptionKind.SACK);
    writeU8(buf, i + 2 + HEAD.length, TCPOLEN_SACK_BASE + blocks * TCPOLEN_SACK_BLOCK);
    i += SACK_HEAD_BYTES;
    for (let k = 0; k < blocks; k++, i += TCPOLEN_SACK_BLOCK) {
      writeU32BE(buf, i + BLOCK.left, opts.sackBlocks[2 * k]!);
      writeU32BE(buf, i + BLOCK.right, opts.sackBlocks[2 * k + 1]!);
    }
  }
  return i - off;
}
