/**
 * Storage for send and receive rings, recycled. A connection's buffers hold memory only
 * while they hold data: an idle connection keeps none (10,000 idle connections should cost
 * kilobytes each, not the 512 KiB their full capacity would), and a busy one takes its
 * storage back from this pool rather than from the allocator, so going idle and busy again
 * allocates nothing in the steady state.
 *
 * Sizes are powers of two from 4 KiB; the pool keeps at most `MAX_POOLED_BYTES` of free
 * buffers and lets the garbage collector have the rest.
 */
import { copyBytes } from '../wire/bytes';

const MIN_SHIFT = 12; // 4 KiB
const MAX_SHIFT = 24; // 16 MiB
/** Free buffers kept for reuse, in all: 64 MiB. */
const MAX_POOLED_BYTES = 64 * 1024 * 1024;

const free: Buffer[][] = [];
for (let s = 0; s <= MAX_SHIFT; s++) free.push([]);
let pooledBytes = 0;

/** The size class (a power of two, at least 4 KiB) that holds `n` bytes. */
export function sizeClass(n: number): number {
  let s = MIN_SHIFT;
  while (s < MAX_SHIFT && 1 << s < n) s++;
  return 1 << s;
}

/**
 * A buffer of exactly `sizeClass(n)` bytes. Its contents are not cleared: rings only ever
 * read back bytes they wrote.
 */
export function takeBuffer(n: number): Buffer {
  const size = sizeClass(n);
  const list = free[Math.log2(size)]!;
  const b = list.pop();
  if (b !== undefined) {
    pooledBytes -= size;
    return b;
  }
  return Buffer.allocUnsafeSlow(size);
}

/** Return a buffer from `takeBuffer` for reuse. */
export function giveBuffer(b: Buffer): void {
  if (b.length === 0 || pooledBytes + b.length > MAX_POOLED_BYTES) return;
  const shift = Math.log2(b.length);
  if (!Number.isInteger(shift) || shift < MIN_SHIFT || shift > MAX_SHIFT) return;
  free[shift]!.push(b);
  pooledBytes += b.length;
}

/** Bytes held in the pool (for tests and stats). */
export function pooledBufferBytes(): number {
  return pooledBytes;
}

export const EMPTY_BUFFER = Buffer.alloc(0);

/**
 * The storage both rings (send-buffer.ts, recv-buffer.ts) share: `size` bytes from the
 * pool, at most `capacity`, empty while the ring holds nothing.
 */
export abstract class PooledRing {
  readonly capacity: number;
  /** The ring's storage: `size` bytes, at most `capacity`; empty while nothing is held. */
  protected buf: Buffer = EMPTY_BUFFER;
  protected size = 0;
  /** Ring index of the first byte held. */
  protected head = 0;

  protected constructor(capacity: number, what: string) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`${what} capacity must be a positive integer (got ${capacity})`);
    }
    this.capacity = capacity;
  }

  /** Bytes of storage held now (not the capacity). */
  get storage(): number {
    return this.size;
  }

  /**
   * Room for `need` bytes past the head: a larger ring from the pool, with the `keep`
   * bytes from the head on (wrapping) moved to its start.
   */
  protected grow(need: number, keep: number): void {
    const next = takeBuffer(Math.min(this.capacity, Math.max(need, this.size * 2)));
    if (keep > 0) {
      const first = Math.min(keep, this.size - this.head);
      copyBytes(this.buf, this.head, next, 0, first);
      if (first < keep) copyBytes(this.buf, 0, next, first, keep - first);
    }
    giveBuffer(this.buf);
    this.buf = next;
    this.size = Math.min(next.length, this.capacity);
    this.head = 0;
  }

  /** Nothing held: give the storage back; the next write starts a fresh ring. */
  protected release(): void {
    giveBuffer(this.buf);
    this.buf = EMPTY_BUFFER;
    this.size = 0;
    this.head = 0;
  }
}
