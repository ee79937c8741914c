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
 */
export interface LinkReceiver {
  receive(buf: Buffer, off: number, len: number): void;
  endOfBatch(): void;
}

export interface Link {
  /** Largest IP datagram the link carries, in bytes. */
  readonly mtu: number;
  /** The transmit batch buffer; `reserve()` hands out offsets into it. */
  readonly txBuf: Buffer;
  /** Install the receiver; the link starts delivering packets to it. */
  start(receiver: LinkReceiver): void;
  /**
   * Room for one outbound packet of at most `maxLen` bytes (maxLen <= mtu); returns its
   * offset in `txBuf`. Flushes the pending batch first when it is full.
   */
  reserve(maxLen: number): number;
  /** The packet at `off` is `len` bytes long and ready to go. */
  commit(off: number, len: number): void;
  /** Send every committed packet now. */
  flush(): void;
  /** Stop delivering and release the underlying resource. Idempotent. */
  close(): void;
}
