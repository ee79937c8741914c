/**
 * The TCP core's view of a segment: the fields RFC 9293 §3.3.1 names (SEG.SEQ, SEG.ACK,
 * SEG.LEN, SEG.WND, SEG.UP) plus options, parsed once by the TCP layer and handed to a
 * connection. One instance is reused for every inbound segment: the payload is a view
 * of the link's buffer, valid only during the call.
 */
import { TcpFlag } from '../wire/tcp';
import { TcpOptions } from '../wire/tcp-options';

const EMPTY = Buffer.alloc(0);

export class Segment {
  seq = 0;
  ack = 0;
  flags = 0;
  /** SEG.WND as carried in the header (unscaled). */
  window = 0;
  urgent = 0;
  readonly options = new TcpOptions();
  buf: Buffer = EMPTY;
  payloadOff = 0;
  payloadLen = 0;

  /** SEG.LEN: payload plus one for SYN and one for FIN (RFC 9293 §3.4). */
  get len(): number {
    return this.payloadLen + (this.flags & TcpFlag.SYN ? 1 : 0) + (this.flags & TcpFlag.FIN ? 1 : 0);
  }

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }
}

/**
 * What a connection wants sent next: header fields, the options a SYN carries, and the
 * data as a range of the send buffer (offset from SND.UNA's first data byte). The TCP
 * layer turns it into a packet in the link's buffer. Reused for every outbound segment.
 */
export class SegmentOut {
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  /** Options to send: MSS, window scale, SACK-permitted in a SYN; timestamps and SACK blocks on any segment. */
  readonly options = new TcpOptions();
  /** Data: `dataLen` bytes starting `dataFrom` bytes after the first unacknowledged data byte. */
  dataFrom = 0;
  dataLen = 0;
  /** This segment repeats sequence space already sent. */
  retransmit = false;

  /** MSS option to send (SYN only), or -1. */
  get mss(): number {
    return this.options.mss;
  }

  /** Window-scale option to send (SYN only), or -1. */
  get windowScale(): number {
    return this.options.windowScale;
  }

  reset(): void {
    this.seq = 0;
    this.ack = 0;
    this.flags = 0;
    this.window = 0;
    this.options.reset();
    this.dataFrom = 0;
    this.dataLen = 0;
    this.retransmit = false;
  }
}
