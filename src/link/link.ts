/**
 * The link interface: what the IP layer needs from whatever carries its packets.
 *
 * Two implementations exist: the TUN device (tun-link.ts) and the simulator's virtual
 * link (test/sim). Packets move in batches both ways:
 *
 * - inbound, the link calls `receiver.receive()` once per packet of a batch and then
 *   `receiver.endOfBatch()` once, so the stack can coalesce its replies (one ACK per
 *   batch, one write call per batch);
 * - outbound, the stack reserves room in the link's transmit buffer, writes the packet
 *   there in place, commits it, and calls `flush()` at the end of its turn.
 *
 * Inbound bytes are a view of the link's reused read buffer: valid only during the
 * `receive()` call. Anything kept must be copied.
 *
 * A link may offload TCP work (a TUN device with `--offload on`, native-notes "Offloads"):
 * then it finishes TCP checksums, cuts TCP packets larger than the MTU into segments
 * (TSO), and hands up TCP packets larger than the MTU (GRO) whose checksum it vouches for.
 */
export interface LinkReceiver {
  /** One inbound IP datagram; `flags` holds RxFlag bits. */
  receive(buf: Buffer, off: number, len: number, flags: number): void;
  endOfBatch(): void;
}

/** Bits of `LinkReceiver.receive()`'s flags. */
export const RxFlag = {
  /**
   * The transport checksum was verified below, or is still partial because the sender
   * is on this host and left it to offload (virtio NEEDS_CSUM): do not verify it.
   */
  CHECKSUM_OK: 1,
} as const;

export interface Link {
  /** Largest IP datagram the link carries on the wire, in bytes. */
  readonly mtu: number;
  /**
   * Largest IP datagram `reserve()` takes: the MTU, or up to 65535 when the link
   * segments TCP itself (`tcpOffload`).
   */
  readonly maxPacket: number;
  /**
   * The link finishes TCP checksums and segments large TCP packets (see `commit()`). A
   * stack that uses it writes only the pseudo-header sum into the TCP checksum field.
   */
  readonly tcpOffload: boolean;
  /** The transmit batch buffer; `reserve()` hands out offsets into it. */
  readonly txBuf: Buffer;
  /** Install the receiver; the link starts delivering packets to it. */
  start(receiver: LinkReceiver): void;
  /**
   * Room for one outbound packet of at most `maxLen` bytes (maxLen <= maxPacket); returns
   * its offset in `txBuf`. Flushes the pending batch first when it is full.
   */
  reserve(maxLen: number): number;
  /**
   * The packet at `off` is `len` bytes long and ready to go. `tcpSegSize` 0 (the default)
   * means the packet is complete. On a `tcpOffload` link, > 0 marks an IPv4/TCP packet
   * whose checksum field holds the pseudo-header sum: the link finishes it and, when the
   * payload is longer than `tcpSegSize` bytes, cuts it into segments of that size.
   */
  commit(off: number, len: number, tcpSegSize?: number): void;
  /** Send every committed packet now. */
  flush(): void;
  /** Stop delivering and release the underlying resource. Idempotent. */
  close(): void;
}
