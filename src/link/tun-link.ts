/**
 * The Link interface (link.ts) over a TUN device.
 *
 * Transmit side: one preallocated buffer of `batchSize` slots, each `slotSize` bytes (the
 * MTU rounded up). `reserve()` hands out the next free slot, the stack builds its packet
 * there in place, `commit()` records its length, and `flush()` hands the whole batch to
 * the kernel in one writeBatch call. A full batch flushes itself on the next reserve().
 *
 * Receive side: each batch the device reads is delivered packet by packet to the
 * receiver, then `endOfBatch()` once, so the stack answers a burst with one write.
 */
import { Link, LinkReceiver } from './link';
import { TunDevice } from './tun-device';

export class TunLink implements Link {
  readonly mtu: number;
  readonly txBuf: Buffer;
  private readonly slotSize: number;
  private readonly batchSize: number;
  private readonly offsets: Uint32Array;
  private readonly lengths: Uint32Array;
  /** Packets committed and not yet flushed; slot i holds the i-th. */
  private count = 0;
  private closed = false;

  constructor(readonly device: TunDevice, batchSize = device.batchSize) {
    this.mtu = device.mtu;
    this.slotSize = device.slotSize;
    this.batchSize = batchSize;
    // Zeroed, so no stale heap memory can ever reach the wire, even through a bug above.
    this.txBuf = Buffer.alloc(batchSize * this.slotSize);
    this.offsets = new Uint32Array(batchSize);
    this.lengths = new Uint32Array(batchSize);
  }

  start(receiver: LinkReceiver): void {
    this.device.onPackets((buf, lens, count, slotSize) => {
      for (let i = 0; i < count; i++) receiver.receive(buf, i * slotSize, lens[i]!);
      receiver.endOfBatch();
    });
  }

  reserve(maxLen: number): number {
    if (maxLen > this.mtu) throw new RangeError(`packet of ${maxLen} bytes exceeds the MTU ${this.mtu}`);
    if (this.count === this.batchSize) this.flush();
    return this.count * this.slotSize;
  }

  commit(off: number, len: number): void {
    if (len > this.mtu) throw new RangeError(`packet of ${len} bytes exceeds the MTU ${this.mtu}`);
    this.offsets[this.count] = off;
    this.lengths[this.count] = len;
    this.count++;
  }

  flush(): void {
    if (this.count === 0) return;
    // Dropped packets are counted in device.stats.txDropped; TCP retransmits them.
    if (!this.closed) this.device.writeBatch(this.txBuf, this.offsets, this.lengths, this.count);
    this.count = 0;
  }

  /** Send what is committed, then release the device. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.device.release();
  }
}
