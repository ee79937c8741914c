/**
 * A host for white-box tests and the simulator: IPv4 + TCP over a MemoryLink, driven
 * by hand with a virtual clock (no Stack, no timers). `Wire` joins two hosts and moves
 * packets between them when told, so a test controls delivery, loss and time exactly.
 */
import { Counters } from '../../src/counters';
import { IpLayer } from '../../src/ip/ip-layer';
import { Link, LinkReceiver } from '../../src/link/link';
import { MemoryLink } from '../../src/link/memory-link';
import { TcpConfig } from '../../src/tcp/config';
import { IsnGenerator } from '../../src/tcp/isn';
import { TcpLayer } from '../../src/tcp/tcp-layer';
import { parseIpv4 } from '../../src/wire/ipv4';

export interface HostLayerOptions {
  config?: Partial<TcpConfig>;
  /** Fills the 16-byte ISN secret (reproducible ISNs). */
  secret?: number;
  /** Seeds the ephemeral-port choice (reproducible ports). */
  seed?: number;
}

/** IPv4 and TCP over `link` with reproducible ISNs and ephemeral ports: the test hosts' core. */
export function hostLayers(link: Link, counters: Counters, address: string, opts: HostLayerOptions = {}): { ip: IpLayer; tcp: TcpLayer } {
  const ip = new IpLayer(link, counters, { address: parseIpv4(address)! });
  let seed = (opts.seed ?? 1) >>> 0 || 1;
  const random = (): number => {
    // xorshift32
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };
  const tcp = new TcpLayer(ip, counters, { isn: new IsnGenerator(Buffer.alloc(16, opts.secret ?? 7)), config: opts.config, random });
  return { ip, tcp };
}

export class SimHost implements LinkReceiver {
  readonly counters = new Counters();
  readonly link: MemoryLink;
  readonly ip: IpLayer;
  readonly tcp: TcpLayer;
  now = 0;

  constructor(readonly address: string, opts: { mtu?: number; config?: Partial<TcpConfig>; secret?: number; seed?: number; tso?: boolean } = {}) {
    this.link = new MemoryLink(opts.mtu ?? 1500, 64, { tso: opts.tso === true });
    ({ ip: this.ip, tcp: this.tcp } = hostLayers(this.link, this.counters, address, opts));
    this.link.start(this);
  }

  get addr(): number {
    return parseIpv4(this.address)!;
  }

  receive(buf: Buffer, off: number, len: number, flags: number): void {
    this.ip.input(buf, off, len, this.now, flags);
  }

  endOfBatch(): void {
    this.turn();
  }

  /** What a driver does after input or a user call: flush output. */
  turn(): void {
    this.tcp.flush(this.now);
    this.link.flush();
  }

  nextDeadline(): number {
    return Math.min(this.tcp.nextDeadline(), this.ip.nextDeadline());
  }

  /** Advance to `t` and run timers due by then. */
  advance(t: number): void {
    this.now = t;
    this.ip.poll(t);
    this.tcp.poll(t);
    this.turn();
  }
}

/** Two hosts and the packets in flight between them. */
export class Wire {
  /** Packets sent by a toward b, and b toward a, not yet delivered. */
  readonly ab: Buffer[] = [];
  readonly ba: Buffer[] = [];
  now = 0;
  /** Drop decision per packet (true = drop); default delivers everything. */
  drop: (pkt: Buffer, fromA: boolean) => boolean = () => false;

  constructor(readonly a: SimHost, readonly b: SimHost) {
    a.link.onTransmit = (p) => this.ab.push(p);
    b.link.onTransmit = (p) => this.ba.push(p);
  }

  /** Deliver everything in flight (one batch per direction), repeatedly, up to `rounds`. Returns packets moved. */
  deliver(rounds = 1000): number {
    let moved = 0;
    for (let i = 0; i < rounds; i++) {
      if (this.ab.length === 0 && this.ba.length === 0) break;
      const ab = this.ab.splice(0).filter((p) => !this.drop(p, true));
      const ba = this.ba.splice(0).filter((p) => !this.drop(p, false));
      moved += ab.length + ba.length;
      this.a.now = this.b.now = this.now;
      if (ab.length > 0) this.b.link.inject(...ab);
      if (ba.length > 0) this.a.link.inject(...ba);
    }
    return moved;
  }

  /** Jump virtual time to the next deadline of either host (at most `limit`), run timers, deliver. */
  step(limit = Infinity): boolean {
    const t = Math.min(this.a.nextDeadline(), this.b.nextDeadline(), limit);
    if (t === Infinity) return false;
    this.now = Math.max(this.now, t);
    this.a.advance(this.now);
    this.b.advance(this.now);
    this.deliver();
    return true;
  }

  /** Deliver and run timers until nothing is left to do or `until` is reached. */
  settle(until = Infinity, maxSteps = 100_000): void {
    this.deliver();
    for (let i = 0; i < maxSteps; i++) {
      const t = Math.min(this.a.nextDeadline(), this.b.nextDeadline());
      if (t === Infinity || t > until) break;
      this.step();
    }
  }
}
