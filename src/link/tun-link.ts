/**
 * The Link interface (link.ts) over a TUN device.
 *
 * Transmit side: one preallocated buffer of `batchSize` slots, each `slotSize` bytes (the
 * largest packet rounded up). `reserve()` hands out the next free slot, the stack builds
 * its packet there in place, `commit()` records its length, and `flush()` hands the whole
 * batch to the kernel in one writeBatch call. A full batch flushes itself on the next
 * reserve().
 *
 * Receive side: each batch the device reads is delivered packet by packet to the
 * receiver, then `endOfBatch()` once, so the stack answers a burst with one write.
 *
 * With offloads (`device.offload`), every slot starts with a virtio-net header: on
 * receive it says whether the TCP checksum is done (we pass RxFlag.CHECKSUM_OK up and
 * skip the header); on transmit `commit()` writes it in front of the packet: plain, or
 * "finish the TCP checksum" and, for a packet longer than the MTU, "cut into segments"
 * (TSO). native-notes/README.md, "Offloads", has the kernel's side.
 */
import { TCP_DATA_OFFSET } from '../wire/tcp';
import { IPV4, IpProtocol } from '../wire/ipv4';
import { VNET_HDR_LEN, VnetFlag, vnetFlags, writeVnetPlain, writeVnetTcp } from '../wire/virtio-net';
import { Link, LinkReceiver, RxFlag } from './link';
import { TunDevice } from './tun-device';

/** With offloads, the largest datagram: IPv4's total length field is 16 bits. */
const MAX_IPV4_DATAGRAM = 65535;

export class TunLink implements Link {
  readonly mtu: number;
  readonly maxPacket: number;
  readonly tcpOffload: boolean;
  readonly txBuf: Buffer;
  private readonly slotSize: number;
  private readonly batchSize: number;
  /** Bytes before the IP packet in each slot: the virtio-net header, or none. */
  private readonly headroom: number;
  private readonly offsets: Uint32Array;
  private readonly lengths: Uint32Array;
  /** Packets committed and not yet flushed; slot i holds the i-th. */
  private count = 0;
  private closed = false;

  constructor(readonly device: TunDevice, batchSize = device.batchSize) {
    this.mtu = device.mtu;
    this.tcpOffload = device.offload;
    this.headroom = device.offload ? VNET_HDR_LEN : 0;
    this.maxPacket = device.offload ? MAX_IPV4_DATAGRAM : this.mtu;
    this.slotSize = device.slotSize;
    this.batchSize = batchSize;
    // Zeroed, so no stale heap memory can ever reach the wire, even through a bug above.
    this.txBuf = Buffer.alloc(batchSize * this.slotSize);
    this.offsets = new Uint32Array(batchSize);
    this.lengths = new Uint32Array(batchSize);
  }

  start(receiver: LinkReceiver): void {
    const headroom = this.headroom;
    if (headroom === 0) {
      this.device.onPackets((buf, lens, count, slotSize) => {
        for (let i = 0; i < count; i++) receiver.receive(buf, i * slotSize, lens[i]!, 0);
        receiver.endOfBatch();
      });
      return;
    }
    this.device.onPackets((buf, lens, count, slotSize) => {
      for (let i = 0; i < count; i++) {
        const at = i * slotSize;
        const len = lens[i]!;
        if (len < headroom) continue; // the kernel never sends less; nothing to deliver
        // NEEDS_CSUM: the sender is local and left its checksum partial; DATA_VALID: verified.
        const ok = (vnetFlags(buf, at) & (VnetFlag.NEEDS_CSUM | VnetFlag.DATA_VALID)) !== 0;
        receiver.receive(buf, at + headroom, len - headroom, ok ? RxFlag.CHECKSUM_OK : 0);
      }
      receiver.endOfBatch();
    });
  }

  reserve(maxLen: number): number {
    if (maxLen > this.maxPacket) throw new RangeError(`packet of ${maxLen} bytes exceeds the link's largest ${this.maxPacket}`);
    if (this.count === this.batchSize) this.flush();
    return this.count * this.slotSize + this.headroom;
  }

  commit(off: number, len: number, tcpSegSize = 0): void {
    if (len > this.maxPacket) throw new RangeError(`packet of ${len} bytes exceeds the link's largest ${this.maxPacket}`);
    const buf = this.txBuf;
    const headroom = this.headroom;
    if (headroom > 0) {
      const hdr = off - headroom;
      if (tcpSegSize > 0 && buf[off + IPV4.protocol] === IpProtocol.TCP) {
        const ipLen = (buf[off]! & 0x0f) << 2;
        const tcpLen = ((buf[off + ipLen + TCP_DATA_OFFSET.offset]! >>> TCP_DATA_OFFSET.shift) & TCP_DATA_OFFSET.mask) << 2;
        const hdrLen = ipLen + tcpLen;
        writeVnetTcp(buf, hdr, ipLen, hdrLen, len - hdrLen > tcpSegSize ? tcpSegSize : 0);
      } else {
        writeVnetPlain(buf, hdr);
      }
    } else if (len > this.mtu) {
      throw new RangeError(`packet of ${len} bytes exceeds the MTU ${this.mtu}`);
    }
    this.offsets[this.count] = off - headroom;
    this.lengths[this.count] = len + headroom;
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
