/**
 * Packet capture: a classic libpcap file writer and a Link tap that records every packet
 * the stack receives and sends (`tuntcp up --pcap FILE`).
 *
 * File format: classic pcap (not pcapng), the format documented at
 * https://www.tcpdump.org/manpages/pcap-savefile.5.txt and in
 * draft-ietf-opsawg-pcap: a 24-byte global header (magic 0xa1b2c3d4, version 2.4,
 * microsecond timestamps, little-endian as written here), then one 16-byte record header
 * plus the packet per packet. The link type is LINKTYPE_RAW (101): each record is a bare
 * IPv4 datagram, exactly what a TUN device (IFF_NO_PI) carries. Wireshark, tshark and
 * tcpdump read it as is.
 *
 * Durability: records are appended to an in-memory batch and written with synchronous
 * `fs.writeSync` on a file descriptor opened at start, once per link batch (after the
 * receiver's `endOfBatch()` and after each `flush()`), so a crash loses at most the
 * packets of the batch in progress. The capture never throws into the packet path: a
 * failed write (disk full, ...) stops the capture and is reported once through `onError`.
 */
import { closeSync, fchownSync, openSync, writeSync } from 'node:fs';
import { Link, LinkReceiver } from '../link/link';

/** LINKTYPE_RAW: the packet begins with an IPv4 or IPv6 header (tcpdump.org linktypes). */
export const LINKTYPE_RAW = 101;
/** Classic pcap magic for microsecond timestamps. */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
/** The snapshot length we announce and honour: the largest IPv4 datagram. */
export const PCAP_SNAPLEN = 65535;

/** Bytes buffered before a write is forced even inside a batch. */
const BATCH_BYTES = 256 * 1024;

/** The 24-byte classic pcap global header (little-endian). */
export function pcapGlobalHeader(linktype = LINKTYPE_RAW, snaplen = PCAP_SNAPLEN): Buffer {
  const h = Buffer.alloc(PCAP_GLOBAL_HEADER_LEN);
  h.writeUInt32LE(PCAP_MAGIC_USEC, 0);
  h.writeUInt16LE(2, 4); // version major
  h.writeUInt16LE(4, 6); // version minor
  h.writeInt32LE(0, 8); // thiszone: timestamps are UTC
  h.writeUInt32LE(0, 12); // sigfigs: always 0
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(linktype, 20);
  return h;
}

export interface PcapWriterOptions {
  /** Called once if a write fails; the capture stops after it. Default: ignore. */
  onError?: (err: Error) => void;
  linktype?: number;
  /**
   * Give the file to this user (e.g. SUDO_UID/SUDO_GID under `sudo tuntcp up`, so the
   * capture is not left owned by root). Best effort: failure is ignored.
   */
  owner?: { uid: number; gid: number };
}

/**
 * Appends records to a pcap file. `open()` creates (truncates) the file and writes the
 * global header synchronously, so a bad path fails at start, not on the first packet.
 */
export class PcapWriter {
  private readonly batch = Buffer.alloc(BATCH_BYTES);
  private used = 0;
  private fd: number;
  private failed = false;
  /** Records written (or buffered) so far. */
  packets = 0;

  private constructor(fd: number, private readonly onError: ((err: Error) => void) | undefined, linktype: number) {
    this.fd = fd;
    this.writeAll(pcapGlobalHeader(linktype), PCAP_GLOBAL_HEADER_LEN);
  }

  /** Create or truncate `path` (mode 0644) and write the global header. Throws on a bad path. */
  static open(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    const fd = openSync(path, 'w', 0o644);
    if (opts.owner !== undefined) {
      try {
        fchownSync(fd, opts.owner.uid, opts.owner.gid);
      } catch {
        // Not permitted (not root): the file stays ours.
      }
    }
    return new PcapWriter(fd, opts.onError, opts.linktype ?? LINKTYPE_RAW);
  }

  get isOpen(): boolean {
    return this.fd >= 0 && !this.failed;
  }

  /** Buffer one packet, stamped `timeMs` (milliseconds since the Unix epoch). */
  record(timeMs: number, buf: Buffer, off: number, len: number): void {
    if (this.fd < 0 || this.failed) return;
    const caplen = Math.min(len, PCAP_SNAPLEN);
    const need = PCAP_RECORD_HEADER_LEN + caplen;
    if (this.used + need > this.batch.length) this.flush();
    let sec = Math.floor(timeMs / 1000);
    let usec = Math.round((timeMs - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec += 1;
      usec -= 1_000_000;
    }
    if (!(sec >= 0)) sec = usec = 0; // a clock before 1970 (or NaN): clamp rather than write garbage
    if (need > this.batch.length) {
      // Larger than the batch buffer (never with an MTU-sized link): write it directly.
      const one = Buffer.alloc(need);
      writeRecordHeader(one, 0, sec, usec, caplen, len);
      buf.copy(one, PCAP_RECORD_HEADER_LEN, off, off + caplen);
      this.writeAll(one, need);
    } else {
      const b = this.batch;
      writeRecordHeader(b, this.used, sec, usec, caplen, len);
      buf.copy(b, this.used + PCAP_RECORD_HEADER_LEN, off, off + caplen);
      this.used += need;
    }
    this.packets++;
  }

  /** Write the buffered records to the file now. */
  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.writeAll(this.batch, n);
  }

  /** Flush and close the file. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    try {
      closeSync(this.fd);
    } catch {
      // Nothing more to do with a descriptor that will not close.
    }
    this.fd = -1;
  }

  private writeAll(buf: Buffer, len: number): void {
    if (this.failed || this.fd < 0) return;
    try {
      let done = 0;
      while (done < len) done += writeSync(this.fd, buf, done, len - done);
    } catch (e) {
      this.failed = true;
      this.onError?.(e as Error);
    }
  }
}

function writeRecordHeader(b: Buffer, at: number, sec: number, usec: number, caplen: number, origLen: number): void {
  b.writeUInt32LE(sec >>> 0, at);
  b.writeUInt32LE(usec, at + 4);
  b.writeUInt32LE(caplen, at + 8);
  b.writeUInt32LE(origLen, at + 12);
}

export interface PcapLinkOptions extends PcapWriterOptions {
  /** Wall clock in milliseconds since the epoch (default `Date.now`-like, sub-ms precise). */
  clock?: () => number;
}

/**
 * A Link that wraps another and records every packet into a pcap file: inbound packets
 * as received (before the stack sees them), outbound ones as committed (complete, with
 * checksums, before the inner link sends them). The file is written at the end of each
 * inbound batch and on each `flush()`.
 *
 * Wiring: `const link = new PcapLink(new TunLink(device), PcapWriter.open(file), { clock })`
 * and give `link` to the Stack instead of the TUN link; `stack.close()` closes the link,
 * which closes the capture.
 */
export class PcapLink implements Link {
  private readonly clock: () => number;
  private receiver: LinkReceiver | null = null;

  constructor(readonly inner: Link, readonly writer: PcapWriter, opts: { clock?: () => number } = {}) {
    this.clock = opts.clock ?? wallClockMs;
  }

  /** Open `path` and wrap `inner`: the one-call form for `--pcap FILE`. Throws on a bad path. */
  static open(inner: Link, path: string, opts: PcapLinkOptions = {}): PcapLink {
    const writer = PcapWriter.open(path, opts);
    return new PcapLink(inner, writer, { clock: opts.clock });
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  get maxPacket(): number {
    return this.inner.maxPacket;
  }

  get tcpOffload(): boolean {
    return this.inner.tcpOffload;
  }

  get txBuf(): Buffer {
    return this.inner.txBuf;
  }

  start(receiver: LinkReceiver): void {
    this.receiver = receiver;
    this.inner.start(this.tap);
  }

  private readonly tap: LinkReceiver = {
    receive: (buf, off, len, flags) => {
      this.writer.record(this.clock(), buf, off, len);
      this.receiver?.receive(buf, off, len, flags);
    },
    endOfBatch: () => {
      // Write the inbound batch before the stack answers it: a crash while handling
      // a packet still leaves that packet in the file.
      this.writer.flush();
      this.receiver?.endOfBatch();
      this.writer.flush();
    },
  };

  reserve(maxLen: number): number {
    return this.inner.reserve(maxLen);
  }

  commit(off: number, len: number, tcpSegSize = 0): void {
    // The packet is complete at commit (but for a checksum left to offload, which the
    // capture shows as a host's own capture would); the inner link may send it at any
    // later reserve().
    this.writer.record(this.clock(), this.inner.txBuf, off, len);
    this.inner.commit(off, len, tcpSegSize);
  }

  flush(): void {
    this.inner.flush();
    this.writer.flush();
  }

  close(): void {
    this.inner.close();
    this.writer.close();
  }
}

/** Milliseconds since the Unix epoch with sub-millisecond precision. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** One record read back from a capture (for tests and tools). */
export interface PcapRecord {
  timeMs: number;
  origLen: number;
  data: Buffer;
}

/** Parse a classic little-endian microsecond pcap file written by PcapWriter. Throws on malformed input. */
export function readPcap(file: Buffer): { linktype: number; snaplen: number; records: PcapRecord[] } {
  if (file.length < PCAP_GLOBAL_HEADER_LEN) throw new Error('pcap: truncated global header');
  if (file.readUInt32LE(0) !== PCAP_MAGIC_USEC) throw new Error('pcap: bad magic');
  if (file.readUInt16LE(4) !== 2 || file.readUInt16LE(6) !== 4) throw new Error('pcap: not version 2.4');
  const snaplen = file.readUInt32LE(16);
  const linktype = file.readUInt32LE(20);
  const records: PcapRecord[] = [];
  let at = PCAP_GLOBAL_HEADER_LEN;
  while (at < file.length) {
    if (at + PCAP_RECORD_HEADER_LEN > file.length) throw new Error(`pcap: truncated record header at ${at}`);
    const sec = file.readUInt32LE(at);
    const usec = file.readUInt32LE(at + 4);
    const caplen = file.readUInt32LE(at + 8);
    const origLen = file.readUInt32LE(at + 12);
    if (usec >= 1_000_000) throw new Error(`pcap: microseconds out of range at ${at}`);
    if (caplen > snaplen || caplen > origLen) throw new Error(`pcap: bad captured length at ${at}`);
    at += PCAP_RECORD_HEADER_LEN;
    if (at + caplen > file.length) throw new Error(`pcap: truncated record at ${at}`);
    records.push({ timeMs: sec * 1000 + usec / 1000, origLen, data: Buffer.from(file.subarray(at, at + caplen)) });
    at += caplen;
  }
  return { linktype, snaplen, records };
}
