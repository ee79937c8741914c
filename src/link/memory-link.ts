/**
 * A link in memory: packets the stack sends are collected, packets injected are handed
 * to the stack as one batch. Unit tests drive the stack through it, and the simulator
 * joins two of them with a virtual wire.
 *
 * With `tso`, it plays a device with TCP offloads: the stack hands it TCP packets of up
 * to 64 KiB with partial checksums, and it cuts them into complete MTU-sized segments on
 * flush (software-gso.ts), so what it collects is what a wire would carry.
 */
import { Link, LinkReceiver } from './link';
import { segmentTcp } from './software-gso';

/** The largest datagram a TSO link takes: IPv4's 16-bit total length. */
const TSO_MAX_PACKET = 65535;

export class MemoryLink implements Link {
  readonly txBuf: Buffer;
  readonly tcpOffload: boolean;
  readonly maxPacket: number;
  /** Packets sent and flushed, oldest first (copies: the tx buffer is reused). */
  readonly sent: Buffer[] = [];
  /** Called with each flushed packet, in addition to collecting it in `sent`. */
  onTransmit: ((pkt: Buffer) => void) | null = null;
  private receiver: LinkReceiver | null = null;
  private readonly pending: number[] = [];
  private cursor = 0;
  private closed = false;

  constructor(readonly mtu = 1500, private readonly batchSize = 64, opts: { tso?: boolean } = {}) {
    this.tcpOffload = opts.tso === true;
    this.maxPacket = this.tcpOffload ? TSO_MAX_PACKET : mtu;
    this.txBuf = Buffer.alloc(Math.max(batchSize * mtu, 2 * this.maxPacket));
  }

  start(receiver: LinkReceiver): void {
    this.receiver = receiver;
  }

  reserve(maxLen: number): number {
    if (maxLen > this.maxPacket) throw new RangeError(`packet of ${maxLen} bytes exceeds the link's largest ${this.maxPacket}`);
    if (this.pending.length / 3 >= this.batchSize || this.cursor + maxLen > this.txBuf.length) this.flush();
    return this.cursor;
  }

  commit(off: number, len: number, tcpSegSize = 0): void {
    this.pending.push(off, len, this.tcpOffload ? tcpSegSize : 0);
    this.cursor = off + len;
  }

  flush(): void {
    for (let i = 0; i < this.pending.length; i += 3) {
      const off = this.pending[i]!;
      const pkt = Buffer.from(this.txBuf.subarray(off, off + this.pending[i + 1]!));
      const segSize = this.pending[i + 2]!;
      if (segSize > 0) {
        for (const seg of segmentTcp(pkt, segSize)) this.transmit(seg);
      } else {
        if (pkt.length > this.mtu) throw new RangeError(`packet of ${pkt.length} bytes exceeds the MTU ${this.mtu}`);
        this.transmit(pkt);
      }
    }
    this.pending.length = 0;
    this.cursor = 0;
  }

  private transmit(pkt: Buffer): void {
    this.sent.push(pkt);
    this.onTransmit?.(pkt);
  }

  /** Deliver packets to the stack as one batch. */
  inject(...packets: Buffer[]): void {
    if (this.receiver === null || this.closed) return;
    for (const p of packets) this.receiver.receive(p, 0, p.length, 0);
    this.receiver.endOfBatch();
  }

  /** Take (and forget) everything sent so far. */
  take(): Buffer[] {
    return this.sent.splice(0, this.sent.length);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.receiver = null;
  }
}
