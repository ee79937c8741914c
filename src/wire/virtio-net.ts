/**
 * The virtio-net header: what a TUN device with offloads (IFF_VNET_HDR) puts before each
 * packet, both ways. It says whether the transport checksum is still to be finished and
 * whether the packet is a TCP "super-packet" to be cut into MSS-sized segments (GSO).
 * Field meanings: virtio spec 1.2 §5.1.6 and include/uapi/linux/virtio_net.h; what the
 * TUN driver does with them: native-notes/README.md, "Offloads".
 */
import { offsetsOf, virtioNetHeaderLayout } from './layout';
import { TCP } from './tcp';

/** Byte offsets of the header's fields. */
export const VNET = offsetsOf(virtioNetHeaderLayout);
/** 10 bytes: the legacy header without num_buffers (TUNSETVNETHDRSZ is set to this). */
export const VNET_HDR_LEN = virtioNetHeaderLayout.span;

/** `flags` bits. */
export const VnetFlag = {
  /** The checksum at csum_start + csum_offset holds only the pseudo-header sum: finish it. */
  NEEDS_CSUM: 1,
  /** The checksum was verified (kernel to us only). */
  DATA_VALID: 2,
} as const;

/** `gso_type` values. */
export const VnetGso = {
  NONE: 0,
  TCPV4: 1,
  TCPV6: 4,
} as const;

/** An all-zero header: a plain packet with a complete checksum. */
export function writeVnetPlain(buf: Buffer, off: number): void {
  buf.fill(0, off, off + VNET_HDR_LEN);
}

/**
 * A header for an IPv4/TCP packet whose TCP checksum field holds the pseudo-header sum
 * (the device finishes it); `segSize` > 0 also asks the device to cut the payload into
 * segments of that many bytes (TSO), each with a copy of the `hdrLen` bytes of IP and TCP
 * header.
 */
export function writeVnetTcp(buf: Buffer, off: number, ipHeaderLen: number, hdrLen: number, segSize: number): void {
  buf[off + VNET.flags] = VnetFlag.NEEDS_CSUM;
  buf[off + VNET.gsoType] = segSize > 0 ? VnetGso.TCPV4 : VnetGso.NONE;
  buf.writeUInt16LE(hdrLen, off + VNET.hdrLen);
  buf.writeUInt16LE(segSize, off + VNET.gsoSize);
  buf.writeUInt16LE(ipHeaderLen, off + VNET.csumStart);
  buf.writeUInt16LE(TCP.checksum, off + VNET.csumOffset);
}

/** The header's flags byte (VnetFlag bits). */
export function vnetFlags(buf: Buffer, off: number): number {
  return buf[off + VNET.flags]!;
}
