/**
 * Big-endian reads and writes that cannot throw.
 *
 * Node's `buf.readUInt16BE()` and friends throw a RangeError past the end of the buffer,
 * and the `write*` ones throw on a value out of range. The packet path must not throw
 * (DESIGN.md), and views do not validate, so the views and builders use these instead:
 * a byte past the end of the buffer reads as 0, a store past the end is dropped (typed
 * array semantics), and a value is stored modulo 2^16 or 2^32. V8 inlines them; they do
 * the same loads and stores as Node's own implementations, minus the bounds checks.
 *
 * The `!` below is deliberate: an index past the end yields `undefined`, which the
 * bitwise operators turn into 0.
 */
import { nativeCopyBytes } from '../native';

export function readU8(b: Buffer, o: number): number {
  return b[o]! | 0;
}

export function readU16BE(b: Buffer, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function readU32BE(b: Buffer, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function writeU8(b: Buffer, o: number, v: number): void {
  b[o] = v;
}

export function writeU16BE(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function writeU32BE(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

const nativeCopy = nativeCopyBytes();

/**
 * Copy `len` bytes from `src[srcOff]` to `dst[dstOff]` (clamped to both, as Buffer#copy)
 * without allocating: Buffer#copy of part of a buffer makes a Uint8Array view per call,
 * which on the send path was one object per packet. The addon's memmove does it when
 * built; returns the bytes copied.
 */
export function copyBytes(src: Buffer, srcOff: number, dst: Buffer, dstOff: number, len: number): number {
  if (len <= 0) return 0;
  if (nativeCopy !== null && (srcOff >>> 0) === srcOff && (dstOff >>> 0) === dstOff && (len >>> 0) === len) return nativeCopy(src, srcOff, dst, dstOff, len);
  return src.copy(dst, dstOff, srcOff, srcOff + len);
}

const EMPTY_VIEW = Buffer.alloc(0);

/**
 * What every packet view (Ipv4View, IcmpView, TcpView) is: a reusable window on
 * `buf[off..off+len)`, pointed at the next packet with `wrap()` instead of being made
 * anew, so reading headers allocates nothing.
 */
export class WireView {
  buf: Buffer = EMPTY_VIEW;
  off = 0;
  len = 0;

  wrap(buf: Buffer, off: number, len: number): this {
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }
}
