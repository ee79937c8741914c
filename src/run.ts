/**
 * Wiring a stack to a TUN device from parsed flags: shared by `tuntcp up`, `tuntcp
 * connect` and the library's createStack().
 */
import { ParsedFlags, UsageError } from './cli-options';
import { TunDevice } from './link/tun-device';
import { TunLink } from './link/tun-link';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Stack } from './stack';
import { IsnGenerator, parseIsnSecret } from './tcp/isn';
import { TcpLayer } from './tcp/tcp-layer';
import { TcpStack } from './socket/net';
import { ipv4ToString, parseCidr, parseIpv4, prefixToMask } from './wire/ipv4';

export interface RunningStack {
  readonly stack: Stack;
  readonly device: TunDevice;
  readonly tcp: TcpLayer;
  /** The Node-net-style API over this stack. */
  readonly net: TcpStack;
  describe(): string;
  close(): void;
}

export function openStack(flags: ParsedFlags): RunningStack {
  const host = parseCidr(String(flags['host-addr']))!;
  const addr = parseIpv4(String(flags.addr))!;
  const mask = prefixToMask(host.prefix);
  if ((addr & mask) >>> 0 !== (host.address & mask) >>> 0) {
    throw new UsageError(`--addr ${ipv4ToString(addr)} is outside --host-addr ${flags['host-addr']}: pick an address in that subnet`);
  }
  if (addr === host.address) throw new UsageError(`--addr and --host-addr are both ${ipv4ToString(addr)}: the stack needs its own address`);
  const mtu = Number(flags.mtu);
  const device = TunDevice.open({
    name: String(flags.dev),
    mtu,
    hostAddr: { address: ipv4ToString(host.address), prefix: host.prefix },
    up: false,
  });
  quietIpv6(device.name);
  device.setUp(true);
  const secret = flags['isn-secret'] === undefined ? randomBytes(32) : isnSecret(String(flags['isn-secret']));
  const link = new TunLink(device);
  const stack = new Stack(link, { address: addr, initialId: randomBytes(2).readUInt16BE(0) });
  const tcp = new TcpLayer(stack.ip, stack.counters, {
    isn: new IsnGenerator(secret),
    config: { msl: Number(flags.msl) * 1000 },
  });
  stack.addTransport(tcp);
  stack.start();
  return {
    stack,
    device,
    tcp,
    net: new TcpStack(stack, tcp),
    describe: () => `${ipv4ToString(addr)} on ${device.name} (host ${flags['host-addr']}, mtu ${mtu})`,
    close: () => stack.close(),
  };
}

function isnSecret(hex: string): Buffer {
  try {
    return parseIsnSecret(hex);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/**
 * tuntcp speaks IPv4 only. Left on, the kernel's IPv6 sends router solicitations and MLD
 * reports into the tunnel the moment it is up: noise in every capture and drop counter.
 * Best effort: without /proc/sys (some containers) the stack just drops and counts them.
 */
function quietIpv6(dev: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1');
  } catch {
    // Not fatal.
  }
}
