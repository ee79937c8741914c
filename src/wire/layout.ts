/**
 * Every header tuntcp reads or writes, declared once with buffer-layout.
 *
 * The per-packet path never calls buffer-layout's decode/encode (they allocate an object
 * per packet). Instead, each wire module derives plain byte offsets and bit positions
 * from these declarations at module load (`offsetsOf`, `bitsOf`) and its views read and
 * write at those offsets. Tests assert the derived offsets against the RFC diagrams and
 * use `decode`/`encode` as an independent reference for the views.
 *
 * Sub-byte fields are `bits()` words packed from the most significant bit, as the RFC
 * diagrams draw them.
 */
import { BitStructure, Layout, Structure, bits, struct, u16, u16be, u32be, u8 } from 'buffer-layout';

// --- derivation helpers ---------------------------------------------------------------

/** Byte offset of every named field of a structure, keyed by field name. */
export type FieldOffsets<T> = { readonly [K in keyof T]-?: number };

/** Where a bit field lives: its word's byte offset and size, and its bit position. */
export interface BitSpan {
  /** Byte offset of the containing word within the header. */
  readonly offset: number;
  /** Size of the containing word in bytes (1, 2 or 4; big-endian). */
  readonly bytes: number;
  /** Right shift that brings the field to bit 0 of the word. */
  readonly shift: number;
  /** Mask of the field after shifting: (1 << bits) - 1. */
  readonly mask: number;
  /** Mask of the field in place within the word: mask << shift. */
  readonly wordMask: number;
}

/**
 * The offsets of a structure's named fields, computed with `Structure.offsetOf`.
 * Throws (at module load only) if a field follows a variable-length one.
 */
export function offsetsOf<T>(layout: Structure<T>): FieldOffsets<T> {
  const out: Record<string, number> = {};
  for (const field of layout.fields) {
    if (field.property === undefined) continue;
    const offset = layout.offsetOf(field.property);
    if (offset === undefined || offset < 0) throw new Error(`wire: field ${field.property} has no fixed offset`);
    out[field.property] = offset;
  }
  return Object.freeze(out) as FieldOffsets<T>;
}

/** The span in bytes of each of a structure's named fields. */
export function spansOf<T>(layout: Structure<T>): FieldOffsets<T> {
  const out: Record<string, number> = {};
  for (const field of layout.fields) {
    if (field.property !== undefined) out[field.property] = field.span;
  }
  return Object.freeze(out) as FieldOffsets<T>;
}

/** The bit positions of the fields packed in the `bits()` member `word` of a structure. */
export function bitsOf<T, K extends keyof T & string>(layout: Structure<T>, word: K): { readonly [F in keyof T[K]]-?: BitSpan } {
  const packed = layout.layoutFor(word);
  const offset = layout.offsetOf(word);
  if (!(packed instanceof BitStructure) || offset === undefined || offset < 0) {
    throw new Error(`wire: ${word} is not a fixed-offset bit structure`);
  }
  const out: Record<string, BitSpan> = {};
  for (const f of packed.fields) {
    if (f.property === undefined) continue;
    out[f.property] = Object.freeze({ offset, bytes: packed.span, shift: f.start, mask: f.valueMask, wordMask: f.wordMask });
  }
  return Object.freeze(out) as { readonly [F in keyof T[K]]-?: BitSpan };
}

/** A big-endian word of sub-byte fields, most significant first, as in RFC diagrams. */
function packed<T>(word: Layout<number>, property: string, fields: readonly (readonly [name: keyof T & string, bits: number | 'flag'])[]): BitStructure<T> {
  const b = bits<T>(word, true, property);
  for (const [name, n] of fields) {
    if (n === 'flag') b.addBoolean(name);
    else b.addField(n, name);
  }
  return b;
}

// --- IPv4, RFC 791 §3.1 ---------------------------------------------------------------

export interface Ipv4Header {
  versionIhl: { version: number; ihl: number };
  tos: number;
  totalLength: number;
  identification: number;
  flagsFragment: { reserved: number; dontFragment: boolean; moreFragments: boolean; fragmentOffset: number };
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
}

/** The fixed 20 bytes of an IPv4 header; options (IHL > 5) follow. */
export const ipv4Layout = struct<Ipv4Header>([
  packed<Ipv4Header['versionIhl']>(u8(), 'versionIhl', [['version', 4], ['ihl', 4]]),
  u8('tos'),
  u16be('totalLength'),
  u16be('identification'),
  // RFC 791 §3.1: bit 0 reserved (must be zero), bit 1 DF, bit 2 MF, then a 13-bit
  // fragment offset in units of 8 octets.
  packed<Ipv4Header['flagsFragment']>(u16be(), 'flagsFragment', [
    ['reserved', 1], ['dontFragment', 'flag'], ['moreFragments', 'flag'], ['fragmentOffset', 13],
  ]),
  u8('ttl'),
  u8('protocol'),
  u16be('checksum'),
  u32be('src'),
  u32be('dst'),
]);

// --- ICMP, RFC 792 --------------------------------------------------------------------

export interface IcmpHeader {
  type: number;
  code: number;
  checksum: number;
  restOfHeader: number;
}

/** The 8-byte header every ICMP message starts with; the last 4 bytes depend on the type. */
export const icmpLayout = struct<IcmpHeader>([
  u8('type'),
  u8('code'),
  u16be('checksum'),
  u32be('restOfHeader'),
]);

export interface IcmpEchoRest {
  identifier: number;
  sequence: number;
}

/** RFC 792 "Echo or Echo Reply Message": the rest-of-header of types 0 and 8. */
export const icmpEchoRestLayout = struct<IcmpEchoRest>([
  u16be('identifier'),
  u16be('sequence'),
]);

// --- TCP, RFC 9293 §3.1 ---------------------------------------------------------------

export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  dataOffsetReserved: { dataOffset: number; reserved: number };
  flags: number;
  window: number;
  checksum: number;
  urgentPointer: number;
}

/** The fixed 20 bytes of a TCP header; options (data offset > 5) follow. */
export const tcpLayout = struct<TcpHeader>([
  u16be('srcPort'),
  u16be('dstPort'),
  u32be('seq'),
  u32be('ack'),
  // RFC 9293 §3.1: data offset (4 bits, in 32-bit words), reserved (4 bits), then the
  // control bits CWR ECE URG ACK PSH RST SYN FIN in one byte (see TcpFlag).
  packed<TcpHeader['dataOffsetReserved']>(u8(), 'dataOffsetReserved', [['dataOffset', 4], ['reserved', 4]]),
  u8('flags'),
  u16be('window'),
  u16be('checksum'),
  u16be('urgentPointer'),
]);

export interface PseudoHeader {
  src: number;
  dst: number;
  zero: number;
  protocol: number;
  length: number;
}

/** RFC 9293 §3.1 (and RFC 768 for UDP): the pseudo header covered by the checksum. */
export const pseudoHeaderLayout = struct<PseudoHeader>([
  u32be('src'),
  u32be('dst'),
  u8('zero'),
  u8('protocol'),
  u16be('length'),
]);

// --- TCP options, RFC 9293 §3.2, RFC 7323, RFC 2018 ------------------------------------

export interface TcpOptionHead {
  kind: number;
  length: number;
}

/** Kind and length: every option but EOL and NOP starts so (RFC 9293 §3.2). */
export const tcpOptionHeadLayout = struct<TcpOptionHead>([u8('kind'), u8('length')]);

/** RFC 9293 §3.2: Maximum Segment Size, kind 2, length 4. */
export const mssOptionLayout = struct<TcpOptionHead & { mss: number }>([u8('kind'), u8('length'), u16be('mss')]);

/** RFC 7323 §2.2: Window Scale, kind 3, length 3. */
export const windowScaleOptionLayout = struct<TcpOptionHead & { shift: number }>([u8('kind'), u8('length'), u8('shift')]);

/** RFC 2018 §2: SACK-Permitted, kind 4, length 2. */
export const sackPermittedOptionLayout = struct<TcpOptionHead>([u8('kind'), u8('length')]);

/** RFC 7323 §3.2: Timestamps, kind 8, length 10. */
export const timestampsOptionLayout = struct<TcpOptionHead & { tsVal: number; tsEcr: number }>([
  u8('kind'),
  u8('length'),
  u32be('tsVal'),
  u32be('tsEcr'),
]);

/** RFC 2018 §3: one SACK block; a SACK option (kind 5) is kind, length, then n blocks. */
export const sackBlockLayout = struct<{ left: number; right: number }>([u32be('left'), u32be('right')]);

// --- virtio-net header (TUN offloads), include/uapi/linux/virtio_net.h -------------------

export interface VirtioNetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/**
 * struct virtio_net_hdr, the 10 bytes a TUN device opened with IFF_VNET_HDR puts before
 * every packet (virtio spec 1.2 §5.1.6). Its 16-bit fields are little-endian here: the
 * addon sets TUNSETVNETLE.
 */
export const virtioNetHeaderLayout = struct<VirtioNetHeader>([
  u8('flags'),
  u8('gsoType'),
  u16('hdrLen'),
  u16('gsoSize'),
  u16('csumStart'),
  u16('csumOffset'),
]);
