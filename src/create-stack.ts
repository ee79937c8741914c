/**
 * One function that assembles a running stack: a link (a TUN device it creates, or any
 * Link such as the simulator's in-memory one), IPv4/ICMP, TCP, and the Node-net-style
 * API on top. `tuntcp up`, `tuntcp connect` and the library (`createStack` from
 * 'tuntcp') all come through here.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { ImpairSpecError, ImpairedLink, isImpairing, parseImpairSpec } from './link/impair';
import { Link } from './link/link';
import { TunDevice } from './link/tun-device';
import { TunLink } from './link/tun-link';
import { TcpStack } from './socket/net';
import { Stack } from './stack';
import { TcpConfig } from './tcp/config';
import { newReno } from './tcp/congestion';
import { cubic } from './tcp/cubic';
import { IsnGenerator, parseIsnSecret } from './tcp/isn';
import { TcpLayer } from './tcp/tcp-layer';
import { StatsReply, statsSnapshot } from './control/stats';
import { LadderTracer } from './trace/ladder';
import { PcapLink } from './trace/pcap';
import { ipv4ToString, parseCidr, parseIpv4, prefixToMask } from './wire/ipv4';

export interface CreateStackOptions {
  /** TUN device name (default `tuntcp0`). Ignored when `link` is given. */
  dev?: string;
  /** The kernel's side of the tunnel (default `10.77.0.1/24`). Ignored when `link` is given. */
  hostAddr?: string;
  /** The stack's own address (default `10.77.0.2`). */
  addr?: string;
  /** Link MTU (default 1500). Ignored when `link` is given (the link has its own). */
  mtu?: number;
  /**
   * TUN offloads (default false): the device finishes TCP checksums and moves TCP
   * packets of up to 64 KiB both ways (TSO out, GRO in). Ignored when `link` is given.
   */
  offload?: boolean;
  /**
   * Open the device as one queue of a multi-queue TUN device (IFF_MULTI_QUEUE), for one
   * of several workers. With `attach`, another queue already created and configured it:
   * join it as it is (hostAddr and mtu are then not applied).
   */
  multiQueue?: boolean;
  attach?: boolean;
  /** Use this link instead of creating a TUN device. */
  link?: Link;
  /** ISN secret (RFC 6528): at least 16 bytes, or hex; random when unset. */
  isnSecret?: Buffer | string;
  /** TCP tunables (see TcpConfig). */
  tcp?: Partial<TcpConfig>;
  /** Write every packet in and out to this pcap file (LINKTYPE_RAW). */
  pcap?: string;
  /**
   * Ladder diagrams of each connection: `onLine` receives live lines (`--trace`); the
   * recent connections are kept for the status page. Off (no tracer, no cost) when false.
   */
  ladder?: false | { onLine?: (line: string) => void; color?: boolean };
  /** Congestion controller: 'newreno' (RFC 5681/6582, the default) or 'cubic' (RFC 9438). */
  cc?: string;
  /** Impair the link both ways: `loss=5%,reorder=2%,dup=1%,corrupt=0.5%,delay=10ms,jitter=5ms,seed=N`. */
  impair?: string;
}

/** The congestion controllers `--cc` chooses from. */
export const CONGESTION_CONTROLLERS = { newreno: newReno, cubic } as const;

/** A bad option: the message names it and the fix. */
export class ConfigError extends Error {
  readonly code = 'ERR_TUNTCP_CONFIG';
}

/** A running stack: the `net`-style API plus what runs it. */
export class TuntcpStack extends TcpStack {
  constructor(
    stack: Stack,
    tcp: TcpLayer,
    /** The TUN device, or null over another link. */
    readonly device: TunDevice | null,
    private readonly hostAddr: string | null,
    /** Recent connections' ladder diagrams (null when off). */
    readonly ladder: LadderTracer | null,
    /** The impairment shim, when one is in place. */
    readonly impaired: ImpairedLink | null,
    private readonly cleanup: () => void,
  ) {
    super(stack, tcp);
  }

  get counters() {
    return this.stack.counters;
  }

  /** A snapshot: every live connection (as GET /connections shows it) and the counters. */
  stats(): StatsReply {
    return statsSnapshot(this.tcp, this.stack.counters);
  }

  /** One line: address, device, host side, MTU. */
  describe(): string {
    const where = this.device === null ? 'a custom link' : `${this.device.name} (host ${this.hostAddr}, mtu ${this.device.mtu}${this.device.offload ? ', offloads on' : ''})`;
    return `${this.address} on ${where}`;
  }

  /** Reset every connection, release the device. Idempotent. */
  close(): void {
    this.stack.close();
    this.cleanup();
  }
}

export function createStack(opts: CreateStackOptions = {}): TuntcpStack {
  const addrText = opts.addr ?? '10.77.0.2';
  const addr = parseIpv4(addrText);
  if (addr === null) throw new ConfigError(`addr: ${JSON.stringify(addrText)} is not an IPv4 address like 10.77.0.2`);
  const secret = isnSecret(opts.isnSecret);
  const ccFactory = CONGESTION_CONTROLLERS[(opts.cc ?? 'newreno') as keyof typeof CONGESTION_CONTROLLERS];
  if (ccFactory === undefined) throw new ConfigError(`cc: ${JSON.stringify(opts.cc)} is not one of ${Object.keys(CONGESTION_CONTROLLERS).join(', ')}`);

  let link: Link;
  let device: TunDevice | null = null;
  let hostText: string | null = null;
  if (opts.link !== undefined) {
    link = opts.link;
  } else {
    hostText = opts.hostAddr ?? '10.77.0.1/24';
    const host = parseCidr(hostText);
    if (host === null) throw new ConfigError(`host-addr: ${JSON.stringify(hostText)} is not an IPv4 address with a prefix, like 10.77.0.1/24`);
    const mask = prefixToMask(host.prefix);
    if ((addr & mask) >>> 0 !== (host.address & mask) >>> 0) {
      throw new ConfigError(`--addr ${addrText} is outside --host-addr ${hostText}: pick an address in that subnet`);
    }
    if (addr === host.address) throw new ConfigError(`--addr and --host-addr are both ${addrText}: the stack needs its own address`);
    const attach = opts.attach === true;
    device = TunDevice.open({
      name: opts.dev ?? 'tuntcp0',
      mtu: opts.mtu ?? 1500,
      offload: opts.offload ?? false,
      multiQueue: opts.multiQueue === true || attach,
      configure: !attach,
      hostAddr: { address: ipv4ToString(host.address), prefix: host.prefix },
      up: false,
    });
    if (!attach) {
      quietIpv6(device.name);
      device.setUp(true);
    }
    link = new TunLink(device);
  }

  // Layering: Stack ↔ pcap ↔ impairment ↔ device. The capture shows what the stack sent
  // and what reached it: a segment the shim drops on the way out is in the capture, its
  // retransmission too.
  const clock = (): number => performance.timeOrigin + performance.now();
  let impaired: ImpairedLink | null = null;
  let impairTimer: NodeJS.Timeout | null = null;
  let impairAt = Infinity;
  try {
    if (opts.impair !== undefined) {
      let spec;
      try {
        spec = parseImpairSpec(opts.impair);
      } catch (e) {
        throw e instanceof ImpairSpecError ? new ConfigError(e.message) : e;
      }
      if (isImpairing(spec)) {
        // The shim holds delayed packets; it asks for a wake-up, and the wake-up polls it
        // from the event loop (never from inside the stack's turn), as impair.ts requires.
        const schedule = (at: number): void => {
          if (at >= impairAt) return;
          if (impairTimer !== null) clearTimeout(impairTimer);
          impairAt = at;
          impairTimer = setTimeout(() => {
            impairTimer = null;
            impairAt = Infinity;
            impaired?.poll(clock());
          }, Math.max(0, at - clock()));
        };
        impaired = new ImpairedLink(link, spec, { clock, schedule });
        link = impaired;
      }
    }
    if (opts.pcap !== undefined) {
      try {
        link = PcapLink.open(link, opts.pcap, {
          onError: (e) => process.stderr.write(`tuntcp: pcap: ${e.message}; capture stopped\n`),
          owner: sudoOwner(),
        });
      } catch (e) {
        throw new ConfigError(`--pcap ${opts.pcap}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    link.close();
    throw e;
  }

  const stack = new Stack(link, { address: addr, initialId: randomBytes(2).readUInt16BE(0), clock });
  const tcp = new TcpLayer(stack.ip, stack.counters, { isn: new IsnGenerator(secret), config: opts.tcp, congestionControl: ccFactory });
  stack.addTransport(tcp);
  let ladder: LadderTracer | null = null;
  if (opts.ladder !== false) {
    ladder = new LadderTracer({ localAddr: addr, onLine: opts.ladder?.onLine, color: opts.ladder?.color ?? false });
    tcp.tracer = ladder;
  }
  stack.start();
  const cleanup = (): void => {
    if (impairTimer !== null) clearTimeout(impairTimer);
    impairTimer = null;
  };
  return new TuntcpStack(stack, tcp, device, hostText, ladder, impaired, cleanup);
}

/** Under sudo, hand files we create (the pcap) to the user who ran sudo. */
function sudoOwner(): { uid: number; gid: number } | undefined {
  const uid = Number(process.env.SUDO_UID);
  if (!Number.isInteger(uid) || uid <= 0) return undefined;
  const gid = Number(process.env.SUDO_GID ?? uid);
  return { uid, gid: Number.isInteger(gid) ? gid : uid };
}

function isnSecret(s: Buffer | string | undefined): Buffer {
  if (s === undefined) return randomBytes(32);
  if (Buffer.isBuffer(s)) {
    if (s.length < 16) throw new ConfigError('isnSecret: needs at least 16 bytes');
    return s;
  }
  try {
    return parseIsnSecret(s);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/**
 * tuntcp speaks IPv4 only. Left on, the kernel's IPv6 sends router solicitations and MLD
 * reports into the tunnel the moment it is up: noise in every capture and drop counter.
 * Best effort: without a writable /proc/sys (some containers) the stack just drops and
 * counts them.
 */
function quietIpv6(dev: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1');
  } catch {
    // Not fatal.
  }
}
