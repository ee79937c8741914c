/**
 * The benchmark's server process: the same apps/ code (HTTP site handler, echo, discard)
 * served either by tuntcp over its TUN device or by the kernel's TCP through Node's own
 * `net` module. run.ts starts one per side as a child with an IPC channel, so the server
 * has an event loop and a CPU account of its own, apart from the client tools.
 *
 *   node bench/server.js tuntcp [--no-ladder]   (in the bench's namespace: creates the TUN device)
 *   node bench/server.js kernel                 (in its own namespace, behind the veth pair)
 *
 * It loads the built stack from dist/ (what `npm run build` produced), never src/.
 *
 * IPC, parent to child: `{ id, cmd: 'stats', gc? }` answers `{ id, type: 'stats', ... }`;
 * `{ cmd: 'stop' }` closes everything and exits 0. The child says `{ type: 'ready' }` once
 * every service listens, and exits by itself when the parent goes away (IPC disconnect),
 * on SIGINT or on SIGTERM, so a crashed run cannot leave a TUN device held.
 */
import * as http from 'node:http';
import * as nodeNet from 'node:net';
import * as path from 'node:path';
import type * as AppsModule from '../src/apps';
import type * as ServiceModule from '../src/apps/service';
import type * as CreateStackModule from '../src/create-stack';
import type { HttpSiteContext } from '../src/apps/http-site';
import type { Service } from '../src/apps/service';
import type { TcpStack } from '../src/socket/net';
import { BENCH_PORTS, KERNEL_SIDE, TUNTCP_SIDE, type ServerStats, type ToServer } from './lib/protocol';

const DIST = path.join(__dirname, '..', 'dist');
const apps = require(path.join(DIST, 'apps', 'index.js')) as typeof AppsModule;
const serviceLib = require(path.join(DIST, 'apps', 'service.js')) as typeof ServiceModule;

interface Running {
  services: readonly Service[];
  /** tuntcp only: TCP connections the stack still holds (any state) and TIME-WAIT records. */
  tcpCounts(): { live: number; timeWait: number } | null;
  close(): Promise<void>;
}

function startTuntcp(ladder: boolean): Running {
  const { createStack } = require(path.join(DIST, 'create-stack.js')) as typeof CreateStackModule;
  // As `tuntcp up` runs it (ladders kept for the status page) unless --no-ladder.
  const stack = createStack({
    dev: TUNTCP_SIDE.dev,
    hostAddr: `${TUNTCP_SIDE.clientAddr}/24`,
    addr: TUNTCP_SIDE.serverAddr,
    mtu: 1500,
    ...(ladder ? {} : { ladder: false as const }),
  });
  const services = apps.startServices(stack, { ...BENCH_PORTS, chargen: 0 }, stack.ladder);
  return {
    services: services.services,
    tcpCounts: () => ({ live: [...stack.tcp.connections()].length, timeWait: stack.tcp.timeWaitCount }),
    close: async () => {
      await services.close();
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
    tcpCounts: () => null,
    close: async () => {
      await Promise.all(services.map((s) => s.close()));
    },
  };
}

function stats(running: Running, gc: boolean): Omit<ServerStats, 'id' | 'type'> {
  if (gc) {
    const g = (globalThis as { gc?: () => void }).gc;
    // Two passes: the first can leave weak references and finalizers for the second.
    g?.();
    g?.();
  }
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
    tcp: running.tcpCounts(),
    gcDone: gc && typeof (globalThis as { gc?: unknown }).gc === 'function',
  };
}

function main(): void {
  const mode = process.argv[2];
  if (process.send === undefined) {
    console.error('bench/server: run by bench/run.ts (it needs an IPC channel)');
    process.exit(2);
  }
  let running: Running;
  if (mode === TUNTCP_SIDE.name) running = startTuntcp(!process.argv.includes('--no-ladder'));
  else if (mode === KERNEL_SIDE.name) running = startKernel();
  else {
    console.error(`bench/server: mode must be ${TUNTCP_SIDE.name} or ${KERNEL_SIDE.name}, got ${String(mode)}`);
    process.exit(2);
  }

  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    // Bounded: connections that will not close are abandoned after 3 s.
    const force = setTimeout(() => process.exit(code), 3000);
    force.unref();
    running
      .close()
      .catch(() => undefined)
      .finally(() => process.exit(code));
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  process.on('disconnect', () => stop(0));
  process.on('message', (m: ToServer) => {
    if (m.cmd === 'stop') stop(0);
    else if (m.cmd === 'stats') process.send?.({ id: m.id, type: 'stats', ...stats(running, m.gc === true) } satisfies ServerStats);
  });

  Promise.all(running.services.map((s) => s.listening)).then(
    () => process.send?.({ type: 'ready', pid: process.pid }),
    (e: Error) => {
      console.error(`bench/server (${mode}): ${e.message}`);
      stop(1);
    },
  );
}

main();
