/**
 * Free lists of small typed arrays, so that per-connection tables (the RACK transmission
 * log, the SACK scoreboard, out-of-order ranges) exist only while a connection uses them
 * and cost no allocation when it uses them again. An idle connection holds none: with
 * 10,000 idle connections that is what keeps memory per connection small (issue 6), and
 * on the busy path a table comes from the free list instead of the allocator.
 *
 * Arrays come back zero-filled. Each list is bounded; beyond that the garbage collector
 * takes the array.
 */

/** Arrays kept per (type, length). */
const MAX_FREE = 1024;

type Ctor<T> = { new (n: number): T };

class Pool<T extends Float64Array | Uint32Array | Uint8Array> {
  private readonly free = new Map<number, T[]>();
  constructor(private readonly ctor: Ctor<T>) {}

  take(n: number): T {
    const list = this.free.get(n);
    if (list !== undefined && list.length > 0) return list.pop()!;
    return new this.ctor(n);
  }

  give(a: T): void {
    if (a.length === 0) return;
    let list = this.free.get(a.length);
    if (list === undefined) this.free.set(a.length, (list = []));
    if (list.length >= MAX_FREE) return;
    a.fill(0);
    list.push(a);
  }
}

const f64 = new Pool(Float64Array);
const u32 = new Pool(Uint32Array);
const u8 = new Pool(Uint8Array);

/** Shared empty arrays: what a table points at while it holds nothing. */
export const NO_F64 = new Float64Array(0);
export const NO_U32 = new Uint32Array(0);
export const NO_U8 = new Uint8Array(0);

export const takeFloat64 = (n: number): Float64Array => f64.take(n);
export const giveFloat64 = (a: Float64Array): void => f64.give(a as Float64Array<ArrayBuffer>);
export const takeUint32 = (n: number): Uint32Array => u32.take(n);
export const giveUint32 = (a: Uint32Array): void => u32.give(a as Uint32Array<ArrayBuffer>);
export const takeUint8 = (n: number): Uint8Array => u8.take(n);
export const giveUint8 = (a: Uint8Array): void => u8.give(a as Uint8Array<ArrayBuffer>);
