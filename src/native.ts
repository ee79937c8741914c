/**
 * The compiled addon (src/link/tun.c, built by `npm install` into build/Release/tun.node).
 * tun-device.ts loads it for the TUN device and fails loudly without it; the checksum
 * (wire/checksum.ts) uses it when present and falls back to JavaScript when not, so the
 * wire layer and the simulator also run where nothing was compiled.
 */
import * as path from 'node:path';

// Both src/ (ts-node) and dist/ (compiled) sit one level below the package root.
export const ADDON_PATH = path.join(__dirname, '../build/Release/tun.node');

/** The addon's checksum: the ones' complement sum, folded, not complemented. */
export type OnesSum = (buf: Uint8Array, off: number, len: number, initial: number) => number;

let tried = false;
let onesSum: OnesSum | null = null;

/** The native checksum, or null when the addon is not built (or TUNTCP_NO_NATIVE=1). */
export function nativeOnesSum(): OnesSum | null {
  if (tried) return onesSum;
  tried = true;
  if (process.env.TUNTCP_NO_NATIVE === '1') return null;
  try {
    const addon = require(ADDON_PATH) as { onesSum?: OnesSum };
    onesSum = typeof addon.onesSum === 'function' ? addon.onesSum : null;
  } catch {
    onesSum = null;
  }
  return onesSum;
}
