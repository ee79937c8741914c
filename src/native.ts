/**
 * The compiled addon (src/link/tun.c, built by `npm install` into build/Release/tun.node).
 * tun-device.ts loads it for the TUN device and fails loudly without it; the checksum
 * (wire/checksum.ts) and the byte copy of the packet path (wire/bytes.ts) use it when
 * present and fall back to JavaScript when not, so the wire layer and the simulator also
 * run where nothing was compiled.
 */
import * as path from 'node:path';

// Both src/ (ts-node) and dist/ (compiled) sit one level below the package root.
export const ADDON_PATH = path.join(__dirname, '../build/Release/tun.node');

/** The addon's checksum: the ones' complement sum, folded, not complemented. */
export type OnesSum = (buf: Uint8Array, off: number, len: number, initial: number) => number;
/** The addon's copy: memmove, clamped to both buffers; returns the bytes copied. */
export type CopyBytes = (src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number) => number;

let tried = false;
let onesSum: OnesSum | null = null;
let copy: CopyBytes | null = null;

/** The native checksum, or null when the addon is not built (or TUNTCP_NO_NATIVE=1). */
export function nativeOnesSum(): OnesSum | null {
  load();
  return onesSum;
}

/** The native copy, or null when the addon is not built (or TUNTCP_NO_NATIVE=1). */
export function nativeCopyBytes(): CopyBytes | null {
  load();
  return copy;
}

function load(): void {
  if (tried) return;
  tried = true;
  if (process.env.TUNTCP_NO_NATIVE === '1') return;
  try {
    const addon = require(ADDON_PATH) as { onesSum?: OnesSum; copyBytes?: CopyBytes };
    onesSum = typeof addon.onesSum === 'function' ? addon.onesSum : null;
    copy = typeof addon.copyBytes === 'function' ? addon.copyBytes : null;
  } catch {
    onesSum = copy = null;
  }
}
