/**
 * What a device with TCP segmentation offload does with a TSO packet, in software: the
 * MemoryLink uses it so that the simulator and unit tests drive the stack's TSO path and
 * the peer still sees ordinary MTU-sized segments.
 *
 * It follows Linux's tcp_gso_segment() and inet_gso_segment() (facts, not code): every
 * segment carries a copy of the IP and TCP headers (options included); the sequence
 * number advances by the payload before it; CWR stays on the first segment only, FIN and
 * PSH on the last only; the IP identification increments per segment; the IP total
 * length, the IP header checksum and the TCP checksum are redone for each.
 */
import { internetChecksum } from '../wire/checksum';
import { IPV4 } from '../wire/ipv4';
import { TCP, TCP_DATA_OFFSET, TcpFlag, finishTcpChecksum } from '../wire/tcp';

/**
 * Cut the IPv4/TCP packet `pkt` (checksum field holding the pseudo-header sum) into
 * packets of at most `segSize` payload bytes, each complete with checksums. A packet
 * with no more payload than that comes back as one packet, its checksum finished.
 */
export function segmentTcp(pkt: Buffer, segSize: number): Buffer[] {
  const ipLen = (pkt[0]! & 0x0f) << 2;
  const tcpLen = ((pkt[ipLen + TCP_DATA_OFFSET.offset]! >>> TCP_DATA_OFFSET.shift) & TCP_DATA_OFFSET.mask) << 2;
  const hdrLen = ipLen + tcpLen;
  const payload = pkt.length - hdrLen;
  const src = pkt.readUInt32BE(IPV4.src);
  const dst = pkt.readUInt32BE(IPV4.dst);
  const seq0 = pkt.readUInt32BE(ipLen + TCP.seq);
  const id0 = pkt.readUInt16BE(IPV4.identification);
  const flags = pkt[ipLen + TCP.flags]!;
  const out: Buffer[] = [];
  const n = Math.max(1, Math.ceil(payload / segSize));
  for (let i = 0; i < n; i++) {
    const from = i * segSize;
    const len = Math.min(segSize, payload - from);
    const seg = Buffer.alloc(hdrLen + len);
    pkt.copy(seg, 0, 0, hdrLen);
    pkt.copy(seg, hdrLen, hdrLen + from, hdrLen + from + len);
    seg.writeUInt16BE(hdrLen + len, IPV4.totalLength);
    seg.writeUInt16BE((id0 + i) & 0xffff, IPV4.identification);
    seg.writeUInt16BE(0, IPV4.checksum);
    seg.writeUInt16BE(internetChecksum(seg, 0, ipLen), IPV4.checksum);
    seg.writeUInt32BE((seq0 + from) >>> 0, ipLen + TCP.seq);
    let f = flags;
    if (i > 0) f &= ~TcpFlag.CWR;
    if (i < n - 1) f &= ~(TcpFlag.FIN | TcpFlag.PSH);
    seg[ipLen + TCP.flags] = f;
    finishTcpChecksum(seg, ipLen, tcpLen + len, src, dst);
    out.push(seg);
  }
  return out;
}
