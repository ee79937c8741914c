/**
 * Two stacks joined by an in-memory wire on the real event loop: the whole socket API
 * without a TUN device. Packets one stack flushes reach the other as one batch on a later
 * turn of the event loop (setImmediate), like packets from a device. For tests, examples,
 * and trying the stack out.
 */
import { MemoryLink } from '../link/memory-link';
import { Stack } from '../stack';
import type { TcpConfig } from '../tcp/config';
import type { TcpLayerOptions } from '../tcp/tcp-layer';
import { parseIpv4 } from '../wire/ipv4';
import { TcpStack } from './net';

export interface MemoryPairOptions {
  /** Addresses of the two stacks (default 10.0.0.1 and 10.0.0.2). */
  addressA?: string;
  addressB?: string;
  mtu?: number;
  /** TCP tunables for both stacks (for example small buffers to exercise backpressure). */
  config?: Partial<TcpConfig>;
  /** Other TCP layer options per stack (an ISN generator, the ephemeral-port random source, ...). */
  tcpA?: Partial<TcpLayerOptions>;
  tcpB?: Partial<TcpLayerOptions>;
  /** Sees every packet put on the wire ('ab': from A to B), before delivery. */
  trace?: (dir: 'ab' | 'ba', packet: Buffer) => void;
}

export interface MemoryPair {
  readonly a: TcpStack;
  readonly b: TcpStack;
  /** Packets carried so far, a→b and b→a. */
  readonly carried: { ab: number; ba: number };
  /** Close both stacks (resets what is still open) and stop the wire. */
  close(): void;
}

export function createMemoryPair(opts: MemoryPairOptions = {}): MemoryPair {
  const mtu = opts.mtu ?? 1500;
  const addrA = parseIpv4(opts.addressA ?? '10.0.0.1');
  const addrB = parseIpv4(opts.addressB ?? '10.0.0.2');
  if (addrA === null || addrB === null) throw new TypeError('memory pair addresses must be IPv4 dotted quads');
  const linkA = new MemoryLink(mtu);
  const linkB = new MemoryLink(mtu);
  const stackA = new Stack(linkA, { address: addrA });
  const stackB = new Stack(linkB, { address: addrB });
  const layerOpts = (o: Partial<TcpLayerOptions> | undefined): Partial<TcpLayerOptions> => ({
    ...(opts.config !== undefined ? { config: opts.config } : {}),
    ...o,
  });
  const a = TcpStack.attach(stackA, layerOpts(opts.tcpA));
  const b = TcpStack.attach(stackB, layerOpts(opts.tcpB));
  const trace = opts.trace;
  const carried = { ab: 0, ba: 0 };
  let closed = false;
  const immediates = new Set<NodeJS.Immediate>();

  /** Queue packets per direction; deliver each queue as one batch on the next turn. */
  const join = (from: MemoryLink, to: MemoryLink, dir: 'ab' | 'ba', count: (n: number) => void): void => {
    let queue: Buffer[] = [];
    from.onTransmit = (p) => {
      // The sent log is only for white-box tests; do not let it grow.
      from.sent.length = 0;
      if (closed) return;
      trace?.(dir, p);
      queue.push(p);
      if (queue.length > 1) return;
      const im = setImmediate(() => {
        immediates.delete(im);
        const batch = queue;
        queue = [];
        if (closed) return;
        count(batch.length);
        to.inject(...batch);
      });
      immediates.add(im);
    };
  };
  join(linkA, linkB, 'ab', (n) => (carried.ab += n));
  join(linkB, linkA, 'ba', (n) => (carried.ba += n));
  stackA.start();
  stackB.start();
  // The stack's timer is unref'd: a real link (the TUN fd) keeps the process alive. The
  // in-memory wire has no handle of its own, so it holds one until closed.
  const alive = setInterval(() => undefined, 1 << 30);

  return {
    a,
    b,
    carried,
    close(): void {
      if (closed) return;
      stackA.close();
      stackB.close();
      closed = true;
      clearInterval(alive);
      for (const im of immediates) clearImmediate(im);
      immediates.clear();
    },
  };
}
