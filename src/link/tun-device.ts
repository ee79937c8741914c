/**
 * A Linux TUN device: the TypeScript face of the addon in tun.c.
 *
 * `TunDevice.open()` creates (or attaches to) a layer-3 TUN interface, configures it
 * with interface ioctls (address, netmask, MTU, up) and starts reading. Packets arrive in
 * batches: the addon drains up to `batchSize` packets into one preallocated buffer (packet
 * i at `i * slotSize`, its length in `lens[i]`) and calls back once per batch. That
 * buffer is reused for the next batch, so a packet handler must copy anything it keeps.
 *
 * `name`, `mtu` and `ipv4` are the configuration this object applied (the kernel's view
 * is the same unless someone changes it behind our back); `isUp` asks the kernel.
 *
 * The open device keeps the event loop alive, like a listening socket; `unref()` lets the
 * process exit anyway, `release()` closes it. The interface is not persistent, so it
 * disappears with its last file descriptor. See native-notes/README.md for the kernel
 * side and the addon's ABI.
 */
import { ADDON_PATH } from '../native';
import { VNET_HDR_LEN } from '../wire/virtio-net';

/** One IPv4 address with its prefix length, as in `10.77.0.1/24`. */
export interface Ipv4Prefix {
  readonly address: string;
  readonly prefix: number;
}

export interface TunDeviceOptions {
  /** Interface name, 1 to 15 bytes; default `tuntcp0` (DESIGN.md defaults). */
  name?: string;
  /** Link MTU in bytes, 68 to 65535; default 1500. */
  mtu?: number;
  /** The kernel side's address and prefix, e.g. `{ address: '10.77.0.1', prefix: 24 }`. */
  hostAddr?: Ipv4Prefix;
  /** Bring the interface up once configured; default true. */
  up?: boolean;
  /** Most packets read per wake-up (and the size of the read buffer in slots); default 64. */
  batchSize?: number;
  /**
   * Offloads (IFF_VNET_HDR + TUNSETOFFLOAD: checksum, TSO4, TSO6): every packet both ways
   * carries a 10-byte virtio-net header, and packets up to 64 KiB cross the device.
   * Default false. See native-notes/README.md, "Offloads".
   */
  offload?: boolean;
  /**
   * Attach as one queue of a multi-queue device (IFF_MULTI_QUEUE): open the same name
   * once per worker, and the kernel spreads flows over the queues by hash. Default false.
   */
  multiQueue?: boolean;
  /**
   * Packets the kernel may queue for us to read (the interface's txqueuelen, per queue).
   * Default 10,000: the tun driver's own default of 500 overflows when thousands of
   * connections close at once (each FIN a packet), and every packet dropped there costs a
   * retransmission timeout.
   */
  txQueueLen?: number;
  /**
   * Configure the interface (MTU, queue length, address, up). Default true; a second queue of a
   * multi-queue device passes false, as the first queue configured it.
   */
  configure?: boolean;
}

/** Called once per batch; `buf` and `lens` are reused by the next batch. */
export type PacketsHandler = (buf: Buffer, lens: Uint32Array, count: number, slotSize: number) => void;

/** Counters since open. */
export interface TunStats {
  /** Packets delivered to the packets handler (or read before one was installed). */
  rxPackets: number;
  /** Wake-ups that read at least one packet. */
  rxBatches: number;
  /** Packets longer than a slot (the MTU was raised behind our back), dropped. */
  rxTruncated: number;
  /** Packets read while no packets handler was installed, dropped. */
  rxUnclaimed: number;
  txPackets: number;
  /** Packets the kernel refused: its queue was full (EAGAIN), or the packet was rejected. */
  txDropped: number;
}

// The addon's surface; native-notes/README.md documents each call.
interface TunHandle {
  readonly name: string;
  write(buf: Buffer, off: number, len: number): boolean;
  writeBatch(buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  close(): void;
  ref(): void;
  unref(): void;
}

type BatchCallback = (this: TunHandle, count: number, truncated: number, error?: NodeJS.ErrnoException) => void;

interface TunAddon {
  open(name: string, batchSize: number, slotSize: number, rxBuf: Buffer, rxLens: Uint32Array, onBatch: BatchCallback, flags: number): TunHandle;
  setIpv4(name: string, address: string, prefix: number): void;
  getIpv4(name: string): Ipv4Prefix | null;
  setMtu(name: string, mtu: number): void;
  getMtu(name: string): number;
  setUp(name: string, up: boolean): void;
  isUp(name: string): boolean;
  setTxQueueLen(name: string, qlen: number): void;
}


let addon: TunAddon | null = null;

/** Load the addon on first use, so that importing this module never needs it. */
function loadAddon(): TunAddon {
  if (addon !== null) return addon;
  try {
    addon = require(ADDON_PATH) as TunAddon;
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND';
    const err = new Error(
      missing
        ? `the TUN addon is not built (${ADDON_PATH} is missing): run npm install to build the TUN addon`
        : `the TUN addon at ${ADDON_PATH} failed to load (${(cause as Error).message}): run npm install to rebuild it`,
      { cause },
    ) as NodeJS.ErrnoException;
    err.code = 'ERR_TUN_ADDON';
    throw err;
  }
  return addon;
}

/** open()'s flags (tun.c OPEN_OFFLOAD, OPEN_MULTI_QUEUE). */
const OPEN_OFFLOAD = 1;
const OPEN_MULTI_QUEUE = 2;
/** See TunDeviceOptions.txQueueLen. */
const DEFAULT_TX_QUEUE_LEN = 10_000;
/** With offloads a packet is at most an IPv4 datagram's 65535 bytes, after the header. */
const MAX_OFFLOAD_PACKET = 65535;

// Linux: ETH_MIN_MTU (68, RFC 791's minimum) and the tun driver's MAX_MTU (65535).
const MIN_MTU = 68;
const MAX_MTU = 65535;
const MAX_BATCH = 4096;
/** Slots are the MTU rounded up to 16 bytes, which keeps every packet 16-byte aligned. */
const SLOT_ALIGN = 16;

function checkInt(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const err = new RangeError(`${what} must be an integer from ${min} to ${max}, not ${value}`) as RangeError & { code: string };
    err.code = 'ERR_OUT_OF_RANGE';
    throw err;
  }
}

export class TunDevice {
  /** The interface name the kernel assigned. */
  readonly name: string;
  /**
   * Bytes per receive and transmit slot: the largest packet rounded up (the MTU, or with
   * offloads the virtio-net header plus 64 KiB). Without offloads, the largest MTU
   * setMtu() accepts.
   */
  readonly slotSize: number;
  readonly batchSize: number;
  /** Opened with offloads: every packet both ways starts with a virtio-net header. */
  readonly offload: boolean;
  readonly stats: TunStats = { rxPackets: 0, rxBatches: 0, rxTruncated: 0, rxUnclaimed: 0, txPackets: 0, txDropped: 0 };

  private _mtu: number;
  private _ipv4: Ipv4Prefix | null = null;
  private handle: TunHandle | null = null;
  private packetsHandler: PacketsHandler | null = null;
  private errorHandler: ((err: NodeJS.ErrnoException) => void) | null = null;

  /**
   * Create (or attach to) the TUN interface and configure it. Throws an Error with
   * Node's shape (`code` = errno name, `errno`, `syscall`) and a message naming the fix:
   * EPERM without CAP_NET_ADMIN, ENOENT without /dev/net/tun, EBUSY for a name in use.
   */
  static open(opts: TunDeviceOptions = {}): TunDevice {
    const { name = 'tuntcp0', mtu = 1500, hostAddr, up = true, batchSize = 64, offload = false, multiQueue = false, configure = true, txQueueLen = DEFAULT_TX_QUEUE_LEN } = opts;
    checkInt('mtu', mtu, MIN_MTU, MAX_MTU);
    checkInt('txQueueLen', txQueueLen, 1, 1_000_000);
    checkInt('batchSize', batchSize, 1, MAX_BATCH);
    const flags = (offload ? OPEN_OFFLOAD : 0) | (multiQueue ? OPEN_MULTI_QUEUE : 0);
    return new TunDevice(loadAddon(), name, mtu, configure ? hostAddr : undefined, configure, up, batchSize, flags, txQueueLen);
  }

  private constructor(
    private readonly addon: TunAddon,
    name: string,
    mtu: number,
    hostAddr: Ipv4Prefix | undefined,
    configure: boolean,
    up: boolean,
    batchSize: number,
    flags: number,
    txQueueLen: number,
  ) {
    this._mtu = mtu;
    this.batchSize = batchSize;
    this.offload = (flags & OPEN_OFFLOAD) !== 0;
    const largest = this.offload ? VNET_HDR_LEN + MAX_OFFLOAD_PACKET : mtu;
    this.slotSize = Math.ceil(largest / SLOT_ALIGN) * SLOT_ALIGN;
    const rxBuf = Buffer.alloc(batchSize * this.slotSize);
    const rxLens = new Uint32Array(batchSize);
    const slotSize = this.slotSize;
    const stats = this.stats;
    // One call per wake-up, from the addon's poll callback (see tun.c on_readable).
    const onBatch: BatchCallback = (count, truncated, error) => {
      stats.rxTruncated += truncated;
      if (count > 0) {
        stats.rxBatches++;
        stats.rxPackets += count;
        if (this.packetsHandler !== null) this.packetsHandler(rxBuf, rxLens, count, slotSize);
        else stats.rxUnclaimed += count;
      }
      if (error !== undefined) this.fail(error);
    };
    const handle = addon.open(name, batchSize, this.slotSize, rxBuf, rxLens, onBatch, flags);
    this.handle = handle;
    this.name = handle.name;
    try {
      if (!configure) {
        this._ipv4 = addon.getIpv4(this.name);
        this._mtu = addon.getMtu(this.name);
        return;
      }
      addon.setMtu(this.name, mtu);
      addon.setTxQueueLen(this.name, txQueueLen);
      if (hostAddr !== undefined) {
        addon.setIpv4(this.name, hostAddr.address, hostAddr.prefix);
        this._ipv4 = { address: hostAddr.address, prefix: hostAddr.prefix };
      } else {
        // An existing persistent device may already carry an address.
        this._ipv4 = addon.getIpv4(this.name);
      }
      if (up) addon.setUp(this.name, true);
    } catch (err) {
      this.release();
      throw err;
    }
  }

  get mtu(): number {
    return this._mtu;
  }

  get ipv4(): Ipv4Prefix | null {
    return this._ipv4;
  }

  /** Whether the kernel has the interface up (false once released or deleted). */
  get isUp(): boolean {
    if (this.handle === null) return false;
    try {
      return this.addon.isUp(this.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENODEV') return false;
      throw err;
    }
  }

  get isOpen(): boolean {
    return this.handle !== null;
  }

  setUp(up: boolean): void {
    this.addon.setUp(this.name, up);
  }

  /** Change the MTU; it may not exceed `slotSize` (the read buffer was sized at open). */
  setMtu(mtu: number): void {
    checkInt('mtu', mtu, MIN_MTU, this.offload ? MAX_MTU : this.slotSize);
    this.addon.setMtu(this.name, mtu);
    this._mtu = mtu;
  }

  /** Install the packets handler (replacing any earlier one). */
  onPackets(handler: PacketsHandler): void {
    this.packetsHandler = handler;
  }

  /**
   * Install the error handler: reading failed for good (EBADFD when the interface was
   * deleted), and the device has stopped reading. Without a handler the error is thrown
   * as an uncaught exception, like an 'error' event nobody listens to.
   */
  onError(handler: (err: NodeJS.ErrnoException) => void): void {
    this.errorHandler = handler;
  }

  /** Write one packet; false if the kernel dropped it (queue full, or rejected). */
  write(buf: Buffer, off: number, len: number): boolean {
    const ok = this.live().write(buf, off, len);
    if (ok) this.stats.txPackets++;
    else this.stats.txDropped++;
    return ok;
  }

  /**
   * Write packets `[offsets[i], offsets[i] + lengths[i])` of `buf` for i < count; returns
   * how many the kernel took. The rest are dropped (TCP retransmits) and counted.
   */
  writeBatch(buf: Buffer, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    const written = this.live().writeBatch(buf, offsets, lengths, count);
    this.stats.txPackets += written;
    this.stats.txDropped += count - written;
    return written;
  }

  /** Keep the event loop alive while open (the default). */
  ref(): void {
    this.handle?.ref();
  }

  /** Let the process exit even though the device is open. */
  unref(): void {
    this.handle?.unref();
  }

  /** Close the device; a non-persistent interface disappears. Idempotent. */
  release(): void {
    if (this.handle === null) return;
    this.handle.close();
    this.handle = null;
    this.packetsHandler = null;
    this.errorHandler = null;
  }

  private live(): TunHandle {
    if (this.handle !== null) return this.handle;
    const err = new Error(`the TUN device ${this.name} was released`) as NodeJS.ErrnoException;
    err.code = 'ERR_TUN_CLOSED';
    throw err;
  }

  private fail(err: NodeJS.ErrnoException): void {
    if (this.errorHandler === null) throw err;
    this.errorHandler(err);
  }
}
