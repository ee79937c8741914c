/**
 * IPv4 fragment reassembly (RFC 791 §3.2, "reassembly"; bookkeeping in the spirit of
 * RFC 815: the datagram is complete when the received ranges leave no hole and the last
 * fragment has fixed the total length).
 *
 * Fragments are rare on the paths tuntcp serves (TCP never sends one: segments fit the
 * MSS), so this path may allocate: one buffer per datagram under reassembly, grown as
 * fragments arrive. What it must never do is grow without bound, so it holds at most
 * `maxBytes` of buffers (default 4 MiB, Linux's net.ipv4.ipfrag_high_thresh) and
 * `maxDatagrams` datagrams, and forgets a datagram `timeoutMs` after its first fragment
 * (default 30 s, Linux's net.ipv4.ipfrag_time; RFC 791 suggests a 15 s lower bound).
 *
 * Overlapping fragments are an attack surface (teardrop, and RFC 5722's reasoning for
 * IPv6 applies to IPv4): a fragment that overlaps received data without being an exact
 * duplicate discards the whole datagram, as Linux has done since 2018.
 */
import { Counters, DropReason } from '../counters';

/** RFC 791 §3.1: the total length field is 16 bits, so no datagram exceeds 65535 bytes. */
const MAX_DATAGRAM = 65535;

export interface ReassemblyOptions {
  maxBytes?: number;
  maxDatagrams?: number;
  timeoutMs?: number;
}

export class PendingDatagram {
  /** Received byte ranges of the payload, sorted, as [start, end) pairs. */
  readonly ranges: number[] = [];
  /** Payload length, known once the fragment with MF = 0 has arrived; -1 before. */
  totalLength = -1;
  buf: Buffer;
  /** A copy of the first fragment's IP header plus 8 payload bytes, for ICMP errors. */
  firstFragment: Buffer | null = null;

  constructor(
    readonly key: string,
    readonly src: number,
    readonly dst: number,
    readonly protocol: number,
    readonly deadline: number,
    initialSize: number,
  ) {
    this.buf = Buffer.alloc(initialSize);
  }

  get complete(): boolean {
    return this.totalLength >= 0 && this.ranges.length === 2 && this.ranges[0] === 0 && this.ranges[1] === this.totalLength;
  }
}

export type AddResult =
  | { kind: 'pending' }
  | { kind: 'dropped' }
  | { kind: 'complete'; datagram: PendingDatagram };

const PENDING: AddResult = { kind: 'pending' };
const DROPPED: AddResult = { kind: 'dropped' };

export class Reassembler {
  private readonly table = new Map<string, PendingDatagram>();
  private bytesHeld = 0;
  private readonly maxBytes: number;
  private readonly maxDatagrams: number;
  readonly timeoutMs: number;

  constructor(private readonly counters: Counters, opts: ReassemblyOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.maxDatagrams = opts.maxDatagrams ?? 64;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  get pendingCount(): number {
    return this.table.size;
  }

  get memoryInUse(): number {
    return this.bytesHeld;
  }

  /**
   * Add one fragment. `hdrOff`/`hdrLen` locate its IP header (kept for ICMP errors when
   * it is the first fragment); `off`/`len` its payload; `fragOffset` is in bytes.
   */
  add(
    now: number,
    src: number,
    dst: number,
    protocol: number,
    id: number,
    fragOffset: number,
    moreFragments: boolean,
    buf: Buffer,
    hdrOff: number,
    hdrLen: number,
    off: number,
    len: number,
  ): AddResult {
    const end = fragOffset + len;
    // RFC 791 §3.1: every fragment but the last carries a multiple of 8 payload bytes.
    if ((moreFragments && (len === 0 || (len & 7) !== 0)) || end > MAX_DATAGRAM - hdrLen) {
      this.counters.drop(end > MAX_DATAGRAM - hdrLen ? DropReason.FRAG_TOO_BIG : DropReason.FRAG_BAD_LENGTH);
      return DROPPED;
    }
    // RFC 791 §3.2: fragments belong together when source, destination, protocol and
    // identification agree.
    const key = `${src}:${dst}:${protocol}:${id}`;
    let d = this.table.get(key);
    if (d === undefined) {
      if (this.table.size >= this.maxDatagrams) {
        this.counters.drop(DropReason.FRAG_NO_MEMORY);
        return DROPPED;
      }
      const size = Math.min(MAX_DATAGRAM, Math.max(end, 2048));
      if (this.bytesHeld + size > this.maxBytes) {
        this.counters.drop(DropReason.FRAG_NO_MEMORY);
        return DROPPED;
      }
      d = new PendingDatagram(key, src, dst, protocol, now + this.timeoutMs, size);
      this.bytesHeld += size;
      this.table.set(key, d);
    }

    if (!moreFragments) {
      // A second "last fragment" that disagrees about the length is an overlap too.
      if (d.totalLength >= 0 && d.totalLength !== end) return this.discard(d, DropReason.FRAG_OVERLAP);
      const last = d.ranges.length > 0 ? d.ranges[d.ranges.length - 1]! : 0;
      if (end < last) return this.discard(d, DropReason.FRAG_BAD_LENGTH);
      d.totalLength = end;
    } else if (d.totalLength >= 0 && end > d.totalLength) {
      return this.discard(d, DropReason.FRAG_BAD_LENGTH);
    }

    const verdict = insertRange(d.ranges, fragOffset, end);
    if (verdict === 'duplicate') {
      this.counters.drop(DropReason.FRAG_DUPLICATE);
      return PENDING;
    }
    if (verdict === 'overlap') return this.discard(d, DropReason.FRAG_OVERLAP);

    if (end > d.buf.length) {
      const size = Math.min(MAX_DATAGRAM, Math.max(end, d.buf.length * 2));
      if (this.bytesHeld + size - d.buf.length > this.maxBytes) return this.discard(d, DropReason.FRAG_NO_MEMORY);
      const grown = Buffer.alloc(size);
      d.buf.copy(grown);
      this.bytesHeld += size - d.buf.length;
      d.buf = grown;
    }
    buf.copy(d.buf, fragOffset, off, off + len);
    if (fragOffset === 0) d.firstFragment = Buffer.from(buf.subarray(hdrOff, hdrOff + hdrLen + Math.min(8, len)));

    if (!d.complete) return PENDING;
    this.remove(d);
    return { kind: 'complete', datagram: d };
  }

  /** The earliest reassembly deadline, or Infinity. */
  nextDeadline(): number {
    let t = Infinity;
    for (const d of this.table.values()) if (d.deadline < t) t = d.deadline;
    return t;
  }

  /** Forget datagrams whose time is up; `onTimeout` sees each (for ICMP time exceeded). */
  expire(now: number, onTimeout: (d: PendingDatagram) => void): void {
    for (const d of this.table.values()) {
      if (d.deadline > now) continue;
      this.remove(d);
      this.counters.drop(DropReason.FRAG_TIMEOUT);
      onTimeout(d);
    }
  }

  clear(): void {
    this.table.clear();
    this.bytesHeld = 0;
  }

  private discard(d: PendingDatagram, reason: DropReason): AddResult {
    this.remove(d);
    this.counters.drop(reason);
    return DROPPED;
  }

  private remove(d: PendingDatagram): void {
    if (this.table.delete(d.key)) this.bytesHeld -= d.buf.length;
  }
}

/**
 * Insert [start, end) into sorted, disjoint ranges, merging ranges that touch. A range
 * inside one already received is a duplicate; any other intersection is an overlap.
 */
export function insertRange(ranges: number[], start: number, end: number): 'inserted' | 'duplicate' | 'overlap' {
  let i = 0;
  while (i < ranges.length && ranges[i + 1]! <= start) i += 2;
  // ranges[i] is the first range ending after `start`.
  if (i < ranges.length && ranges[i]! < end) {
    // Wholly inside one received range: a duplicated packet, or an attempt to overwrite;
    // either way the first copy stays, so nothing already received can change.
    return ranges[i]! <= start && end <= ranges[i + 1]! ? 'duplicate' : 'overlap';
  }
  ranges.splice(i, 0, start, end);
  // Merge with neighbours that touch.
  if (i + 2 < ranges.length && ranges[i + 1] === ranges[i + 2]) {
    ranges.splice(i + 1, 2);
  }
  if (i >= 2 && ranges[i - 1] === ranges[i]) {
    ranges.splice(i - 1, 2);
  }
  return 'inserted';
}

