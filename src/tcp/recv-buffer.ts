/**
 * The receive buffer with reassembly: a ring of fixed capacity that holds
 *
 *     [ readable: in order, not yet read by the app ][ window: RCV.NXT onward ...      ]
 *                                                     ^ RCV.NXT    ^ out-of-order ranges
 *
 * RFC 9293 §3.3.1 (the receive sequence space) and §3.10.7.4 (segment arrival): data at
 * RCV.NXT is delivered in order ("seventh, process the segment text"); acceptable
 * segments that start beyond RCV.NXT are held for later processing ("first, check
 * sequence number") and delivered once the gap before them fills.
 *
 * Offsets in the API are byte offsets relative to RCV.NXT, so offset 0 is the next byte
 * expected; the connection does the sequence arithmetic. Out-of-order data is stored at
 * its final place in the ring, so filling a gap costs no copying, and the receive window
 * is simply the room behind the readable part: capacity − readable. Out-of-order bytes
 * sit inside that window and do not shrink it: the right edge, RCV.NXT + window, only
 * moves forward (RFC 9293 §3.8.6 discourages shrinking the window).
 *
 * Out-of-order ranges are kept sorted in a fixed table of `maxRanges` entries. A segment
 * that would need one more range than that is dropped (the peer retransmits it), so
 * nothing allocates on the per-segment path except `readBuffer`, the app boundary; the
 * storage itself comes from and returns to the buffer pool (buffer-pool.ts).
 */
import { copyBytes } from '../wire/bytes';
import { NO_F64, giveFloat64, takeFloat64 } from './array-pool';
import { PooledRing } from './buffer-pool';

/** Default size of the out-of-order range table: our choice, ample for SACK (which
 * reports at most 4 blocks, RFC 2018 §3) under reordering on a local path. */
export const DEFAULT_MAX_OOO_RANGES = 32;

/** The ring's head is the first readable byte; storage comes from the buffer pool as data arrives and goes back when the buffer empties. */
export class RecvBuffer extends PooledRing {
  readonly maxRanges: number;
  /** Segments dropped because the range table was full. */
  rangeOverflowDrops = 0;

  private _readable = 0;
  /**
   * Stream position (bytes since construction or `clear`) of the first readable byte.
   * Positions are exact integers up to 2^53, well past any connection's lifetime.
   */
  private base = 0;
  /** Out-of-order ranges as [start, end) stream positions, sorted, disjoint, not touching. */
  private ranges: Float64Array = NO_F64;
  private rangeCount = 0;
  /** Stream position of the start of the most recent out-of-order write, or -1. */
  private lastOoo = -1;

  constructor(capacity: number, maxRanges: number = DEFAULT_MAX_OOO_RANGES) {
    super(capacity, 'receive buffer');
    if (!Number.isSafeInteger(maxRanges) || maxRanges < 0) {
      throw new RangeError(`maxRanges must be an integer >= 0 (got ${maxRanges})`);
    }
    this.maxRanges = maxRanges;
  }

  /** In-order bytes waiting for the application. */
  get readable(): number {
    return this._readable;
  }

  /** The receive window: room from RCV.NXT to the end of the buffer. */
  get window(): number {
    return this.capacity - this._readable;
  }

  /** Bytes held beyond RCV.NXT, waiting for a gap to fill. */
  get outOfOrderBytes(): number {
    let n = 0;
    const r = this.ranges;
    for (let i = 0; i < this.rangeCount * 2; i += 2) n += r[i + 1]! - r[i]!;
    return n;
  }

  /** Number of out-of-order ranges held. */
  get oooRangeCount(): number {
    return this.rangeCount;
  }

  /**
   * Store `len` bytes of `src` from `srcOff`, which belong `offset` bytes after RCV.NXT.
   * The part outside [0, window) is ignored (RFC 9293 §3.10.7.4: trim to the window);
   * a negative offset (data partly before RCV.NXT) is trimmed too. Returns how far
   * RCV.NXT advances: the in-order bytes added, plus buffered out-of-order data that
   * became contiguous. 0 for data that is out of order, duplicate or dropped.
   */
  write(offset: number, src: Buffer, srcOff: number, len: number): number {
    if (offset < 0) {
      // Already received in part: keep only what lies at or after RCV.NXT.
      srcOff -= offset;
      len += offset;
      offset = 0;
    }
    if (len > src.length - srcOff) len = src.length - srcOff;
    const win = this.capacity - this._readable;
    const end = Math.min(offset + len, win);
    if (!(end > offset)) return 0;

    const nxt = this.base + this._readable;
    const s = nxt + offset;
    const e = nxt + end;
    const r = this.ranges;
    const count = this.rangeCount;

    if (offset === 0) {
      this.store(s, src, srcOff, end);
      // Absorb every out-of-order range that now touches the in-order part.
      let newNxt = e;
      let k = 0;
      while (k < count && r[k * 2]! <= newNxt) {
        if (r[k * 2 + 1]! > newNxt) newNxt = r[k * 2 + 1]!;
        k++;
      }
      if (k > 0) {
        r.copyWithin(0, k * 2, count * 2);
        this.rangeCount = count - k;
        if (this.rangeCount === 0) this.releaseRanges();
      }
      const grown = newNxt - nxt;
      this._readable += grown;
      return grown;
    }

    // Out of order. Ranges i..j-1 overlap or touch [s, e) and merge with it.
    // The table exists only while out-of-order data does (array-pool.ts).
    if (count === 0 && this.maxRanges > 0 && r.length === 0) return this.writeOutOfOrder(s, e, src, srcOff, end - offset);
    let i = 0;
    while (i < count && r[i * 2 + 1]! < s) i++;
    let j = i;
    while (j < count && r[j * 2]! <= e) j++;
    if (i === j) {
      // A new range: make room for it, or drop the segment if the table is full.
      if (count >= this.maxRanges) {
        this.rangeOverflowDrops++;
        return 0;
      }
      r.copyWithin((i + 1) * 2, i * 2, count * 2);
      r[i * 2] = s;
      r[i * 2 + 1] = e;
      this.rangeCount = count + 1;
    } else {
      const lo = Math.min(s, r[i * 2]!);
      const hi = Math.max(e, r[(j - 1) * 2 + 1]!);
      r[i * 2] = lo;
      r[i * 2 + 1] = hi;
      if (j - i > 1) {
        r.copyWithin((i + 1) * 2, j * 2, count * 2);
        this.rangeCount = count - (j - i - 1);
      }
    }
    this.store(s, src, srcOff, end - offset);
    this.lastOoo = s;
    return 0;
  }

  /** Copy up to `max` readable bytes into `dst` at `dstOff`; returns the count. */
  read(dst: Buffer, dstOff: number, max: number): number {
    const n = Math.min(max, this._readable, dst.length - dstOff);
    if (!(n > 0)) return 0;
    const first = Math.min(n, this.size - this.head);
    copyBytes(this.buf, this.head, dst, dstOff, first);
    if (first < n) copyBytes(this.buf, 0, dst, dstOff + first, n - first);
    this.base += n;
    this._readable -= n;
    if (this._readable === 0 && this.rangeCount === 0) {
      this.release();
    } else {
      this.head += n;
      if (this.head >= this.size) this.head -= this.size;
    }
    return n;
  }

  /**
   * Read up to `max` bytes into a new Buffer of exactly that many bytes (the app
   * boundary, where the bytes leave our ring).
   */
  readBuffer(max: number): Buffer {
    const n = Math.max(0, Math.min(max, this._readable));
    // allocUnsafe is safe here: read() fills every one of the n bytes.
    const out = Buffer.allocUnsafe(n);
    this.read(out, 0, n);
    return out;
  }

  /**
   * Write the out-of-order ranges as [start, end) pairs relative to RCV.NXT into `out`,
   * in ascending order, for SACK blocks (RFC 2018 §3) and the scoreboard. Returns the
   * number of pairs written (limited by out.length / 2).
   */
  oooRanges(out: Uint32Array): number {
    const nxt = this.base + this._readable;
    const n = Math.min(this.rangeCount, out.length >> 1);
    const r = this.ranges;
    for (let k = 0; k < n; k++) {
      out[k * 2] = r[k * 2]! - nxt;
      out[k * 2 + 1] = r[k * 2 + 1]! - nxt;
    }
    return n;
  }

  /**
   * RFC 2018 §4: the first SACK block must be the contiguous block holding the segment
   * that triggered the ACK (unless that segment advanced RCV.NXT). Writes into out[0], out[1] the
   * [start, end) range (relative to RCV.NXT) holding the most recent out-of-order write,
   * and returns true; false if that data has since become in order or none was stored.
   */
  mostRecentRange(out: Uint32Array): boolean {
    const p = this.lastOoo;
    const nxt = this.base + this._readable;
    if (p < nxt) return false;
    const r = this.ranges;
    for (let k = 0; k < this.rangeCount; k++) {
      if (r[k * 2]! <= p && p < r[k * 2 + 1]!) {
        out[0] = r[k * 2]! - nxt;
        out[1] = r[k * 2 + 1]! - nxt;
        return true;
      }
    }
    return false;
  }

  /** Drop everything, readable and out of order. */
  clear(): void {
    this.release();
    this._readable = 0;
    this.base = 0;
    this.rangeCount = 0;
    this.releaseRanges();
    this.lastOoo = -1;
  }

  /** The first out-of-order range [s, e): take a table for it, then store as usual. */
  private writeOutOfOrder(s: number, e: number, src: Buffer, srcOff: number, len: number): number {
    const r = (this.ranges = takeFloat64(this.maxRanges * 2));
    r[0] = s;
    r[1] = e;
    this.rangeCount = 1;
    this.store(s, src, srcOff, len);
    this.lastOoo = s;
    return 0;
  }

  private releaseRanges(): void {
    giveFloat64(this.ranges);
    this.ranges = NO_F64;
  }

  /** Copy `len` bytes of src from srcOff to stream position `pos` in the ring. */
  private store(pos: number, src: Buffer, srcOff: number, len: number): void {
    // Everything held (readable and out of order) moves with the ring.
    if (pos - this.base + len > this.size) this.grow(pos - this.base + len, this.size);
    let at = this.head + (pos - this.base);
    if (at >= this.size) at -= this.size;
    const first = Math.min(len, this.size - at);
    // copyBytes, not Buffer#copy: no view object per segment received (wire/bytes.ts).
    copyBytes(src, srcOff, this.buf, at, first);
    if (first < len) copyBytes(src, srcOff + first, this.buf, 0, len - first);
  }
}
