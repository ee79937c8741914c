/**
 * What run.ts and server.ts agree on: the two sides' addresses, the service ports, and the
 * IPC messages between them.
 */

/** The services both servers run (chargen is not measured). */
export const BENCH_PORTS = { http: 80, echo: 7, discard: 9 } as const;

export interface Side {
  readonly name: 'tuntcp' | 'kernel';
  /** The client's address (the kernel's end of the TUN device, or the bench's veth end), no prefix. */
  readonly clientAddr: string;
  /** The server's address. */
  readonly serverAddr: string;
}

/** tuntcp over a TUN device in the bench's namespace. */
export const TUNTCP_SIDE = { name: 'tuntcp', dev: 'tt-bench', clientAddr: '10.90.0.1', serverAddr: '10.90.0.2' } as const satisfies Side & { dev: string };

/**
 * The kernel's TCP over a veth pair: one end in the bench's namespace, the other in the
 * server's own namespace (created by `unshare -n` for that process, so it goes away with it).
 */
export const KERNEL_SIDE = { name: 'kernel', clientVeth: 'tb-cli', serverVeth: 'tb-srv', clientAddr: '10.91.0.1', serverAddr: '10.91.0.2' } as const satisfies Side & {
  clientVeth: string;
  serverVeth: string;
};

export const SIDES: readonly Side[] = [TUNTCP_SIDE, KERNEL_SIDE];

/**
 * How a tuntcp server runs, as `tuntcp up` flags: `--offload on|off`, `--workers N`, and
 * the ladder tracer (`--no-ladders` when off). A variant reuses TUNTCP_SIDE's device and
 * addresses, so only one tuntcp server runs at a time.
 */
export interface TuntcpVariant {
  /** The ladder-diagram tracer (off in the bench unless `--ladder`). */
  readonly ladder: boolean;
  /** TUN offloads: virtio-net header, TSO out, GRO in. */
  readonly offload: boolean;
  /** Worker threads, each on one queue of a multi-queue TUN device (1: single queue). */
  readonly workers: number;
}

/** Parent to server. */
export type ToServer = { cmd: 'stop' } | { cmd: 'stats'; id: number; gc?: boolean };

/** Server to parent, answering `stats`. */
export interface ServerStats {
  type: 'stats';
  id: number;
  /** process.cpuUsage(): user + system, microseconds since the process started. */
  cpuUs: number;
  /** Resident set size, bytes. */
  rss: number;
  /** V8 heap in use, and memory held by ArrayBuffers (Buffers) outside it, bytes. */
  heapUsed: number;
  arrayBuffers: number;
  /** Live accepted sockets per service name (with workers: worker 0's services only). */
  accepted: Record<string, number>;
  /** tuntcp only: connections the TCP layer still holds (any state), and TIME-WAIT records, all workers together. */
  tcp: { live: number; timeWait: number } | null;
  /** tuntcp with workers: passive opens per worker (worker 0 first); null otherwise. */
  workerOpens: number[] | null;
  /** Whether a full GC ran before the figures were read (the server runs with --expose-gc). */
  gcDone: boolean;
}

export type FromServer = ServerStats | { type: 'ready'; pid: number };
