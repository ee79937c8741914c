/**
 * The send buffer: the bytes from SND.UNA onward (RFC 9293 §3.3.1, the "send sequence
 * space": sent but unacknowledged, then not yet sent), in a ring of fixed capacity.
 *
 * Positions are byte offsets from the first unacknowledged byte, so offset
 * SND.NXT − SND.UNA is the first unsent byte; the connection does that sequence
 * arithmetic. The buffer only stores bytes: it copies them in from the application,
 * out into segments (first transmissions and retransmissions alike) and drops them once
 * acknowledged.
 *
 * Storage is taken from the buffer pool as data arrives, grown by doubling up to the
 * capacity, and given back when the buffer empties: an idle connection holds none.
 */
import { copyBytes } from '../wire/bytes';
import { PooledRing } from './buffer-pool';

/** The ring's head is the first unacknowledged byte. */
export class SendBuffer extends PooledRing {
  private len = 0;

  constructor(capacity: number) {
    super(capacity, 'send buffer');
  }

  /** Bytes held: unacknowledged plus unsent. */
  get length(): number {
    return this.len;
  }

  /** Room for more bytes from the application. */
  get free(): number {
    return this.capacity - this.len;
  }

  /**
   * Copy up to `len` bytes of `src` from `off` onto the end; returns how many fit
   * (at most `free`). The caller keeps the rest and applies backpressure.
   */
  write(src: Buffer, off = 0, len: number = src.length - off): number {
    const n = Math.min(len, this.capacity - this.len, src.length - off);
    if (!(n > 0)) return 0;
    if (this.len + n > this.size) this.grow(this.len + n, this.len);
    let tail = this.head + this.len;
    if (tail >= this.size) tail -= this.size;
    const first = Math.min(n, this.size - tail);
    copyBytes(src, off, this.buf, tail, first);
    if (first < n) copyBytes(src, off + first, this.buf, 0, n - first);
    this.len += n;
    return n;
  }

  /**
   * Copy `len` bytes starting `offset` bytes after the first unacknowledged byte into
   * `dst` at `dstOff`. The range must lie within `length`; asking for more is a bug in
   * the caller, and throws.
   */
  copyOut(offset: number, dst: Buffer, dstOff: number, len: number): void {
    if (!(offset >= 0 && len >= 0 && offset + len <= this.len && dstOff >= 0 && dstOff + len <= dst.length)) {
      throw new RangeError(
        `SendBuffer.copyOut(${offset}, dst[${dst.length}], ${dstOff}, ${len}) out of range (length ${this.len})`,
      );
    }
    if (len === 0) return;
    let start = this.head + offset;
    if (start >= this.size) start -= this.size;
    const first = Math.min(len, this.size - start);
    // copyBytes, not Buffer#copy: no view object per segment sent (wire/bytes.ts).
    copyBytes(this.buf, start, dst, dstOff, first);
    if (first < len) copyBytes(this.buf, 0, dst, dstOff + first, len - first);
  }

  /** Drop `n` acknowledged bytes from the front (SND.UNA advanced by `n`). */
  consume(n: number): void {
    if (!(n >= 0 && n <= this.len)) {
      throw new RangeError(`SendBuffer.consume(${n}) out of range (length ${this.len})`);
    }
    this.len -= n;
    if (this.len === 0) {
      this.release();
    } else {
      this.head += n;
      if (this.head >= this.size) this.head -= this.size;
    }
  }

  /** Forget everything (connection aborted or reset). */
  clear(): void {
    this.len = 0;
    this.release();
  }
}
