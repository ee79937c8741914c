/**
 * A link in memory: packets the stack sends are collected, packets injected are handed
 * to the stack as one batch. Unit tests drive the stack through it, and the simulator
 * joins two of them with a virtual wire.
 */
import { Link, LinkReceiver } from './link';

export class MemoryLink implements Link {
  readonly txBuf: Buffer;
  /** Packets sent and flushed, oldest first (copies: the tx buffer is reused). */
  readonly sent: Buffer[] = [];
  /** Called with each flushed packet, in addition to collecting it in `sent`. */
  onTransmit: ((pkt: Buffer) => void) | null = null;
  private receiver: LinkReceiver | null = null;
  private readonly pending: number[] = [];
  private cursor = 0;
  private closed = false;

  constructor(readonly mtu = 1500, private readonly batchSize = 64) {
    this.txBuf = Buffer.alloc(batchSize * mtu);
  }

  start(receiver: LinkReceiver): void {
    this.receiver = receiver;
  }

  reserve(maxLen: number): number {
    if (maxLen > this.mtu) throw new RangeError(`packet of ${maxLen} bytes exceeds the MTU ${this.mtu}`);
    if (this.pending.length / 2 >= this.batchSize || this.cursor + maxLen > this.txBuf.length) this.flush();
    return this.cursor;
  }

  commit(off: number, len: number): void {
    this.pending.push(off, len);
    this.cursor = off + len;
  }

  flush(): void {
    for (let i = 0; i < this.pending.length; i += 2) {
      const off = this.pending[i]!;
      const pkt = Buffer.from(this.txBuf.subarray(off, off + this.pending[i + 1]!));
      this.sent.push(pkt);
      this.onTransmit?.(pkt);
    }
    this.pending.length = 0;
    this.cursor = 0;
  }

  /** Deliver packets to the stack as one batch. */
  inject(...packets: Buffer[]): void {
    if (this.receiver === null || this.closed) return;
    for (const p of packets) this.receiver.receive(p, 0, p.length);
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
