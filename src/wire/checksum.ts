/**
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones' complement
 * sum of the data taken as big-endian 16-bit words.
 *
 * Speed: RFC 1071 §2(C) and §2(D) let the sum run over wider words with the carries
 * folded in at the end, so the loop adds 32-bit big-endian words into a double (exact
 * below 2^53) and folds once per packet. A byte past the end of `buf` reads as 0 (see
 * bytes.ts): the function never throws. From NATIVE_MIN bytes on, the addon's C version
 * does the same sum (3.5× faster at 1,460 bytes, 15× at 64 KiB, measured on the bench
 * machine; below ~128 bytes the call costs more than it saves).
 */
import { nativeOnesSum } from '../native';

/** Regions at least this long are summed by the addon when it is built. */
export const NATIVE_MIN = 128;
const native = nativeOnesSum();

/**
 * Bytes summed between folds: 2^17 iterations of at most 2 * (2^32 - 1) stay far below
 * 2^53, so the running sum is always an exact integer.
 */
const CHUNK = 1 << 20;

/** Fold a non-negative sum to 16 bits with end-around carry (RFC 1071 §1, §2(D)). */
export function foldSum(sum: number): number {
  // 2^16 ≡ 1 (mod 2^16 - 1), so adding the high part to the low part keeps the value.
  while (sum > 0xffffffff) sum = (sum % 0x100000000) + Math.floor(sum / 0x100000000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * The ones' complement sum of `len` bytes at `off`, plus `initial` (e.g. a pseudo-header
 * sum), folded to 16 bits and not complemented. An odd final byte is padded with a zero
 * byte on the right (RFC 9293 §3.1, "Checksum"). Verifying: a region that includes a correct
 * checksum sums to 0xffff.
 */
export function onesComplementSum(buf: Buffer, off: number, len: number, initial = 0): number {
  // (The addon takes unsigned 32-bit integers only; anything else stays in JavaScript.)
  if (len >= NATIVE_MIN && native !== null && (off >>> 0) === off && (len >>> 0) === len && (initial >>> 0) === initial) return native(buf, off, len, initial);
  return jsOnesComplementSum(buf, off, len, initial);
}

/** onesComplementSum in JavaScript: the reference the native version is tested against. */
export function jsOnesComplementSum(buf: Buffer, off: number, len: number, initial = 0): number {
  // Short regions (headers, ACKs): 16-bit words keep the running sum a small integer
  // (at most 2048 × 0xffff + initial < 2^30), which V8 keeps unboxed: no number is
  // allocated per packet, where the 32-bit loop below would go past 2^31.
  if (len <= 4096 && initial >= 0 && initial <= 0xffff) {
    let small = initial;
    const end = off + len;
    let i = off;
    for (; i + 1 < end; i += 2) small += (buf[i]! << 8) | buf[i + 1]!;
    if (i < end) small += buf[i]! << 8;
    small = (small & 0xffff) + (small >>> 16);
    return (small & 0xffff) + (small >>> 16);
  }
  let sum = initial;
  let i = off;
  const end = off + len;
  const end8 = end - 7;
  // Two 32-bit big-endian words per iteration, carries deferred to the fold (RFC 1071 §2(C), §2(D)).
  while (i < end8) {
    const stop = end8 < i + CHUNK ? end8 : i + CHUNK;
    for (; i < stop; i += 8) {
      sum +=
        (((buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) >>> 0) +
        (((buf[i + 4]! << 24) | (buf[i + 5]! << 16) | (buf[i + 6]! << 8) | buf[i + 7]!) >>> 0);
    }
    sum = foldSum(sum);
  }
  if (i + 3 < end) {
    sum += ((buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) >>> 0;
    i += 4;
  }
  if (i + 1 < end) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (i < end) sum += buf[i]! << 8;
  return foldSum(sum);
}

/** The checksum to store in a header whose checksum field is zero: ~sum, 16 bits. */
export function internetChecksum(buf: Buffer, off: number, len: number, initial = 0): number {
  return ~onesComplementSum(buf, off, len, initial) & 0xffff;
}

/**
 * RFC 9293 §3.1: the sum of the 96-bit pseudo header (source address, destination
 * address, zero, protocol, TCP length) that the TCP checksum also covers; folded, not
 * complemented, for use as `initial`. `length` is the segment's header plus data length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return foldSum((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (protocol & 0xff) + (length & 0xffff));
}
