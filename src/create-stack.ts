/**
 * One function that assembles a running stack: a link (a TUN device it creates, or any
 * Link such as the simulator's in-memory one), IPv4/ICMP, TCP, and the Node-net-style
 * API on top. `tuntcp up`, `tuntcp connect` and the library (`createStack` from
 * 'tuntcp') all come through here.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Link } from './link/link';
import { TunDevice } from './link/tun-device';
import { TunLink } from './link/tun-link';
import { TcpStack } from './socket/net';
import { Stack } from './stack';
import { TcpConfig } from './tcp/config';
import { IsnGenerator, parseIsnSecret } from './tcp/isn';
import { TcpLayer } from './tcp/tcp-layer';
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
  /** Use this link instead of creating a TUN device. */
  link?: Link;
  /** ISN secret (RFC 6528): at least 16 bytes, or hex; random when unset. */
  isnSecret?: Buffer | string;
  /** TCP tunables (see TcpConfig). */
  tcp?: Partial<TcpConfig>;
}

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
  ) {
    super(stack, tcp);
  }

  get counters() {
    return this.stack.counters;
  }

  /** One line: address, device, host side, MTU. */
  describe(): string {
    const where = this.device === null ? 'a custom link' : `${this.device.name} (host ${this.hostAddr}, mtu ${this.device.mtu})`;
    return `${this.address} on ${where}`;
  }

  /** Reset every connection, release the device. Idempotent. */
  close(): void {
    this.stack.close();
  }
}

export function createStack(opts: CreateStackOptions = {}): TuntcpStack {
  const addrText = opts.addr ?? '10.77.0.2';
  const addr = parseIpv4(addrText);
  if (addr === null) throw new ConfigError(`addr: ${JSON.stringify(addrText)} is not an IPv4 address like 10.77.0.2`);
  const secret = isnSecret(opts.isnSecret);

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
    device = TunDevice.open({
      name: opts.dev ?? 'tuntcp0',
      mtu: opts.mtu ?? 1500,
      hostAddr: { address: ipv4ToString(host.address), prefix: host.prefix },
      up: false,
    });
    quietIpv6(device.name);
    device.setUp(true);
    link = new TunLink(device);
  }

  const stack = new Stack(link, { address: addr, initialId: randomBytes(2).readUInt16BE(0) });
  const tcp = new TcpLayer(stack.ip, stack.counters, { isn: new IsnGenerator(secret), config: opts.tcp });
  stack.addTransport(tcp);
  stack.start();
  return new TuntcpStack(stack, tcp, device, hostText);
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
