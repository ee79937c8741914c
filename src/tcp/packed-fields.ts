/**
 * Fields stored compactly, behind accessors on the prototype: code reads and writes them
 * as ordinary properties (V8 inlines the accessors in optimized code).
 *
 * Why: V8 (as Node ships it, without pointer compression) gives every field of an object
 * an 8-byte slot, and a field that ever holds a non-integer or a number beyond ±2^31 (a
 * sequence number, a time in ms, Infinity) a separate 16-byte box besides. A connection
 * has some twenty flags and some thirty such numbers; as bits of one integer and as
 * unboxed elements of one double array they cost a fraction of that, which is most of what
 * an idle connection weighs (issue 6: memory per idle connection).
 */

/** An object with packed flags: they live in its integer property `flagBits`. */
interface FlagHost {
  flagBits: number;
}

/** An object with packed numbers: they live in its double array `numbers`. */
interface NumberHost {
  numbers: number[];
}

/**
 * Define a boolean accessor for each name, stored as bit i of the object's `flagBits`.
 * (The store has a fixed name and the bit is a constant of the closure, so optimized code
 * inlines each accessor to a load, a mask and a test.)
 */
export function defineFlagFields(proto: object, names: readonly string[]): void {
  if (names.length > 30) throw new RangeError('at most 30 flags fit a small integer');
  names.forEach((name, i) => {
    const bit = 1 << i;
    Object.defineProperty(proto, name, {
      get(this: FlagHost): boolean {
        return (this.flagBits & bit) !== 0;
      },
      set(this: FlagHost, on: boolean): void {
        this.flagBits = on ? this.flagBits | bit : this.flagBits & ~bit;
      },
      configurable: true,
    });
  });
}

/**
 * Define a number accessor for each key of `fields`, in order, stored at index `first` + i
 * of the object's `numbers` (the indices below `first` are the owner's to use directly).
 * Returns the fields' initial values, in that order, for the owner's `numberStore`.
 */
export function defineNumberFields(proto: object, fields: Readonly<Record<string, number>>, first = 0): number[] {
  const names = Object.keys(fields);
  names.forEach((name, i) => {
    const index = first + i;
    Object.defineProperty(proto, name, {
      get(this: NumberHost): number {
        return this.numbers[index]!;
      },
      set(this: NumberHost, v: number): void {
        this.numbers[index] = v;
      },
      configurable: true,
    });
  });
  return names.map((name) => fields[name]!);
}

/**
 * A double array of `values` for `defineNumberFields`: elements stay unboxed doubles
 * whatever is stored later (a fractional placeholder makes V8 pick double elements).
 */
export function numberStore(values: readonly number[]): number[] {
  const a = values.map(() => 0.5);
  for (let i = 0; i < values.length; i++) a[i] = values[i]!;
  return a;
}
