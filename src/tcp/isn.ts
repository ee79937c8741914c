/**
 * Initial sequence numbers (RFC 6528 §3):
 *
 *     ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * M is a timer that ticks every 4 microseconds; F is a keyed hash of the connection's
 * 4-tuple, so each 4-tuple gets its own sequence number space that an off-path attacker
 * cannot guess, while the clock keeps successive incarnations of one 4-tuple moving
 * forward (RFC 9293 §3.4.1).
 *
 * Sans-I/O: the clock reading and the secret come in from the caller.
 */
import { createHmac, createSecretKey, KeyObject } from 'node:crypto';

/**
 * The shortest secret accepted: 128 bits, our floor (the usual minimum strength for a
 * symmetric key). RFC 6528 §3 asks only that the key be secret and hard to guess.
 */
export const ISN_SECRET_MIN_BYTES = 16;

/** RFC 6528 §3 (after RFC 793 §3.3): M ticks every 4 microseconds. */
export const ISN_TICK_US = 4;

const TWO_POW_32 = 0x1_0000_0000;

export class IsnGenerator {
  private readonly key: KeyObject;
  /** The 4-tuple, serialised for F; reused across calls. */
  private readonly tuple = Buffer.alloc(12);

  constructor(secret: Buffer) {
    if (!Buffer.isBuffer(secret) || secret.length < ISN_SECRET_MIN_BYTES) {
      throw new Error(
        `ISN secret must be a Buffer of at least ${ISN_SECRET_MIN_BYTES} bytes (128 bits); ` +
          `got ${Buffer.isBuffer(secret) ? secret.length : 0}`,
      );
    }
    // createSecretKey copies the bytes: later changes to `secret` do not affect us.
    this.key = createSecretKey(secret);
  }

  /**
   * The ISN for a new connection at `nowUs` (microseconds on the caller's clock; any
   * epoch, as long as it is monotonic). Addresses are IPv4 addresses as uint32.
   */
  isn(nowUs: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    // RFC 6528 §3: M, the 4-microsecond timer, modulo 2^32 (the sequence space).
    const ticks = Math.floor(nowUs / ISN_TICK_US) % TWO_POW_32;
    const m = ticks < 0 ? ticks + TWO_POW_32 : ticks;
    // RFC 6528 §3: F, a pseudorandom function of the 4-tuple keyed by the secret. We use
    // HMAC-SHA-256 and take the first 32 bits of the digest.
    const t = this.tuple;
    t.writeUInt32BE(localAddr >>> 0, 0);
    t.writeUInt16BE(localPort & 0xffff, 4);
    t.writeUInt32BE(remoteAddr >>> 0, 6);
    t.writeUInt16BE(remotePort & 0xffff, 10);
    const f = createHmac('sha256', this.key).update(t).digest().readUInt32BE(0);
    return (m + f) >>> 0;
  }
}

const ISN_SECRET_ERROR =
  `--isn-secret must be an even number of hex digits, at least ${ISN_SECRET_MIN_BYTES * 2} ` +
  `(${ISN_SECRET_MIN_BYTES} bytes)`;

/**
 * Parse the `--isn-secret` option: hex, at least 16 bytes. Throws one clear Error
 * (which deliberately does not echo the secret) for anything else.
 */
export function parseIsnSecret(hex: string): Buffer {
  const s = hex.trim();
  if (s.length < ISN_SECRET_MIN_BYTES * 2 || s.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(s)) {
    throw new Error(ISN_SECRET_ERROR);
  }
  return Buffer.from(s, 'hex');
}
