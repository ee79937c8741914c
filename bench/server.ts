/**
 * The benchmark's server process: the same apps/ code (HTTP site handler, echo, discard)
 * served either by tuntcp over its TUN device or by the kernel's TCP through Node's own
 * `net` module. run.ts starts one per side as a child with an IPC channel, so the server
 * has an event loop and a CPU account of its own, apart from the client tools.
 *
 *   node bench/server.js tuntcp [--ladder] [--offload] [--workers N]   (in the bench's namespace: creates the TUN device)
 *   node bench/server.js kernel                                         (in its own namespace, behind the veth pair)
 *
 * It loads the built stack from dist/ (what `npm run build` produced), never src/: the
 * worker threads of `--workers` run dist/worker.js.
 *
 * IPC, parent to child: `{ id, cmd: 'stats', gc? }` answers `{ id, type: 'stats', ... }`;
 * `{ cmd: 'stop' }` closes everything and exits 0. The child says `{ type: 'ready' }` once
 * every service listens (on every worker), and exits by itself when the parent goes away
 * (IPC disconnect), on SIGINT or on SIGTERM, so a crashed run cannot leave a TUN device held.
 */
import * as http from 'node:http';
import * as nodeNet from 'node:net';
import * as path from 'node:path';
import type * as AppsModule from '../src/apps';
import type * as ServiceModule from '../src/apps/service';
import type * as CliOptionsModule from '../src/cli-options';
import type * as StatsModule from '../src/control/stats';
import type * as RunModule from '../src/run';
import type * as WorkersModule from '../src/workers';
import type { HttpSiteContext } from '../src/apps/http-site';
import type { Service } from '../src/apps/service';
import type { TcpStack } from '../src/socket/net';
import { BENCH_PORTS, KERNEL_SIDE, TUNTCP_SIDE, type ServerStats, type ToServer, type TuntcpVariant } from './lib/protocol';

const DIST = path.join(__dirname, '..', 'dist');
const apps = require(path.join(DIST, 'apps', 'index.js')) as typeof AppsModule;
const serviceLib = require(path.join(DIST, 'apps', 'service.js')) as typeof ServiceModule;

interface Running {
  services: readonly Service[];
  /** The stack's side of ServerStats (null for the kernel; with workers, a round trip to each thread). */
  counts(): Promise<Pick<ServerStats, 'tcp' | 'workerOpens'>>;
  close(): Promise<void>;
}

/**
 * `tuntcp up`'s own path (cli.ts up()): flags parsed by the CLI's parser, openStack, the
 * services, and with `workers` > 1 a WorkerPool whose threads attach the other queues.
 * Only the ports differ (no chargen: it is not measured).
 */
async function startTuntcp(variant: TuntcpVariant): Promise<Running> {
  const { parseFlags } = require(path.join(DIST, 'cli-options.js')) as typeof CliOptionsModule;
  const { openStack } = require(path.join(DIST, 'run.js')) as typeof RunModule;
  const { WorkerPool } = require(path.join(DIST, 'workers.js')) as typeof WorkersModule;
  const { mergeStats, statsSnapshot } = require(path.join(DIST, 'control', 'stats.js')) as typeof StatsModule;
  const argv = [
    ...['--dev', TUNTCP_SIDE.dev, '--host-addr', `${TUNTCP_SIDE.clientAddr}/24`, '--addr', TUNTCP_SIDE.serverAddr, '--mtu', '1500'],
    ...['--http', String(BENCH_PORTS.http), '--echo', String(BENCH_PORTS.echo), '--discard', String(BENCH_PORTS.discard), '--chargen', '0'],
    ...['--offload', variant.offload ? 'on' : 'off', '--workers', String(variant.workers)],
    ...(variant.ladder ? [] : ['--no-ladders']),
  ];
  const { flags } = parseFlags('up', argv);
  const workers = Number(flags.workers);
  const stack = openStack(flags, { multiQueue: workers > 1 });
  let services;
  let pool: Awaited<ReturnType<typeof WorkerPool.start>> | null = null;
  try {
    services = apps.startServices(stack, { ...BENCH_PORTS, chargen: 0 }, stack.ladder);
    await services.ready;
    if (workers > 1) pool = await WorkerPool.start(workers, flags);
  } catch (e) {
    stack.close();
    throw e;
  }
  const svc = services;
  const workersPool = pool;
  return {
    services: svc.services,
    counts: async () => {
      if (workersPool === null) return { tcp: { live: [...stack.tcp.connections()].length, timeWait: stack.tcp.timeWaitCount }, workerOpens: null };
      // What `tuntcp stats` shows for --workers: every worker's table, merged.
      const merged = mergeStats([statsSnapshot(stack.tcp, stack.counters), ...(await workersPool.stats())]);
      return { tcp: { live: merged.connections.length, timeWait: merged.timeWait }, workerOpens: merged.workers?.map((w) => w.passiveOpens) ?? null };
    },
    close: async () => {
      // As cli.ts up() stops: the workers and, within 2 s, the services; then the stack.
      await Promise.all([pool?.stop(), Promise.race([svc.close(), new Promise((r) => setTimeout(r, 2000).unref())])]);
      stack.close();
    },
  };
}

/** The pages that read the stack's own state (ctx.stack, ctx.tcp): tuntcp has them, Node's net does not. */
const STACK_PAGES = new Set(['/', '/connections', '/metrics']);

function startKernel(): Running {
  // Node's `net` has the shape the apps use (createServer(opts, listener), listen(port),
  // address(), close(cb), sockets with pipe/resume/destroy); the cast is only for the types.
  const net = nodeNet as unknown as TcpStack;
  // The site's handler, minus the pages that render tuntcp's own connection table.
  const handler = apps.createHttpHandler({} as HttpSiteContext);
  const site = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if (STACK_PAGES.has(q < 0 ? url : url.slice(0, q))) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('this page shows tuntcp state; the kernel-side bench server does not serve it\n');
      return;
    }
    handler(req, res);
  });
  // The same plumbing as startHttpSite: accepted sockets handed to an http.Server that never listens.
  const services = [
    serviceLib.startService(net, 'http', BENCH_PORTS.http, { allowHalfOpen: true, noDelay: true }, (socket) => {
      site.emit('connection', socket);
    }),
    apps.startEcho(net, BENCH_PORTS.echo),
    apps.startDiscard(net, BENCH_PORTS.discard),
  ];
  return {
    services,
    counts: async () => ({ tcp: null, workerOpens: null }),
    close: async () => {
      await Promise.all(services.map((s) => s.close()));
    },
  };
}

async function stats(running: Running, gc: boolean): Promise<Omit<ServerStats, 'id' | 'type'>> {
  // Connection counts first: with workers they take a round trip to each thread.
  const { tcp, workerOpens } = await running.counts();
  if (gc) {
    const g = (globalThis as { gc?: () => void }).gc;
    // Two passes: the first can leave weak references and finalizers for the second.
    g?.();
    g?.();
  }
  // Process-wide: user + system time of every thread, RSS of the whole process.
  const cpu = process.cpuUsage();
  const accepted: Record<string, number> = {};
  for (const s of running.services) accepted[s.name] = s.connections;
  const mem = process.memoryUsage();
  return {
    cpuUs: cpu.user + cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    arrayBuffers: mem.arrayBuffers,
    accepted,
    tcp,
    workerOpens,
    gcDone: gc && typeof (globalThis as { gc?: unknown }).gc === 'function',
  };
}

function parseVariant(argv: readonly string[]): TuntcpVariant {
  const at = argv.indexOf('--workers');
  const workers = at < 0 ? 1 : Number(argv[at + 1]);
  if (!Number.isInteger(workers) || workers < 1) {
    console.error(`bench/server: --workers needs a whole number, got ${String(argv[at + 1])}`);
    process.exit(2);
  }
  return { ladder: argv.includes('--ladder'), offload: argv.includes('--offload'), workers };
}

function main(): void {
  const mode = process.argv[2];
  if (process.send === undefined) {
    console.error('bench/server: run by bench/run.ts (it needs an IPC channel)');
    process.exit(2);
  }
  let starting: Promise<Running>;
  if (mode === TUNTCP_SIDE.name) starting = startTuntcp(parseVariant(process.argv.slice(3)));
  else if (mode === KERNEL_SIDE.name) starting = Promise.resolve(startKernel());
  else {
    console.error(`bench/server: mode must be ${TUNTCP_SIDE.name} or ${KERNEL_SIDE.name}, got ${String(mode)}`);
    process.exit(2);
  }

  let running: Running | null = null;
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    // Bounded: connections (or worker threads) that will not close are abandoned after 4 s.
    const force = setTimeout(() => process.exit(code), 4000);
    force.unref();
    (running?.close() ?? Promise.resolve())
      .catch(() => undefined)
      .finally(() => process.exit(code));
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  process.on('disconnect', () => stop(0));
  process.on('message', (m: ToServer) => {
    if (m.cmd === 'stop') stop(0);
    else if (m.cmd === 'stats' && running !== null) {
      const id = m.id;
      void stats(running, m.gc === true).then((st) => process.send?.({ id, type: 'stats', ...st } satisfies ServerStats));
    }
  });

  starting
    .then(async (r) => {
      running = r;
      await Promise.all(r.services.map((s) => s.listening));
      if (stopping) return;
      process.send?.({ type: 'ready', pid: process.pid });
    })
    .catch((e: Error) => {
      console.error(`bench/server (${mode}): ${e.message}`);
      stop(1);
    });
}

main();
