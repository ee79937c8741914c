// buffer-layout ships no type declarations; this covers the part tuntcp uses.
declare module 'buffer-layout' {
  export class Layout<T = unknown> {
    span: number;
    property?: string;
    decode(b: Buffer, offset?: number): T;
    encode(src: T, b: Buffer, offset?: number): number;
    getSpan(b?: Buffer, offset?: number): number;
    replicate(property: string): this;
  }
  export class Structure<T = Record<string, unknown>> extends Layout<T> {
    fields: Layout[];
    offsetOf(property: string): number | undefined;
    layoutFor(property: string): Layout | undefined;
  }
  /** A value packed into bits of a 1..4 byte unsigned word (`word`). */
  export class BitStructure<T = Record<string, unknown>> extends Layout<T> {
    word: Layout<number>;
    /** True when fields are packed from the most significant bit down. */
    msb: boolean;
    fields: BitField[];
    addField(bits: number, property: string): BitField;
    addBoolean(property: string): BitField;
    fieldFor(property: string): BitField | undefined;
  }
  export class BitField {
    container: BitStructure;
    bits: number;
    /** Bit position of the field's least significant bit within the word. */
    start: number;
    /** Mask of the value before shifting into place: (1 << bits) - 1. */
    valueMask: number;
    /** Mask of the field within the word: valueMask << start. */
    wordMask: number;
    property?: string;
  }
  export function struct<T = Record<string, unknown>>(fields: Layout[], property?: string, decodePrefixes?: boolean): Structure<T>;
  export function u8(property?: string): Layout<number>;
  export function u16be(property?: string): Layout<number>;
  export function u32be(property?: string): Layout<number>;
  export function u16(property?: string): Layout<number>;
  export function u32(property?: string): Layout<number>;
  export function blob(length: number, property?: string): Layout<Buffer>;
  export function seq<T>(elementLayout: Layout<T>, count: number, property?: string): Layout<T[]>;
  export function bits<T = Record<string, unknown>>(word: Layout<number>, msb?: boolean, property?: string): BitStructure<T>;
}
