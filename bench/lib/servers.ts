/**
 * Starting and stopping the two server processes (bench/server.ts), and the kernel side's
 * network: the server in a namespace of its own (`unshare -n`, so the namespace lives
 * exactly as long as that process), a veth pair between it and the bench's namespace.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { exited, run, stopChild, track, waitFor } from './children';
import { type FromServer, KERNEL_SIDE, type ServerStats, type Side, TUNTCP_SIDE, type ToServer, type TuntcpVariant } from './protocol';

const SERVER_SCRIPT = path.join(__dirname, '..', 'server.ts');
const TS_NODE = require.resolve('ts-node/register/transpile-only');

/** For a tuntcp server, how it runs; the kernel side ignores it. */
export type ServerOptions = TuntcpVariant;

/** `tuntcp`, or `tuntcp (offload on, 2 workers)` for a variant: for messages. */
export function serverLabel(side: Side, opts: ServerOptions): string {
  if (side.name !== 'tuntcp') return side.name;
  const what = [...(opts.offload ? ['offload on'] : []), ...(opts.workers > 1 ? [`${opts.workers} workers`] : []), ...(opts.ladder ? ['ladders on'] : [])];
  return what.length === 0 ? side.name : `${side.name} (${what.join(', ')})`;
}

export class ServerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (s: ServerStats) => void>();

  private constructor(
    readonly side: Side,
    /** `tuntcp`, `kernel`, or a tuntcp variant's description. */
    readonly label: string,
    readonly child: ChildProcess,
    readonly pid: number,
  ) {
    child.on('message', (m: FromServer) => {
      if (m.type !== 'stats') return;
      const done = this.pending.get(m.id);
      this.pending.delete(m.id);
      done?.(m);
    });
  }

  static async start(side: Side, opts: ServerOptions): Promise<ServerProcess> {
    const node = [process.execPath, '--expose-gc', '-r', TS_NODE, SERVER_SCRIPT, side.name];
    if (side.name === 'tuntcp') {
      if (opts.ladder) node.push('--ladder');
      if (opts.offload) node.push('--offload');
      if (opts.workers > 1) node.push('--workers', String(opts.workers));
    }
    const label = serverLabel(side, opts);
    // The kernel side's server gets a network namespace of its own; `unshare` execs node
    // in it, so the child's PID is the server's, and the namespace dies with it.
    const [cmd, ...args] = side.name === 'kernel' ? ['unshare', '-n', '--', ...node] : node;
    const child = track(spawn(cmd as string, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start the ${side.name} server`);
    const ready = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 30_000);
      child.on('message', (m: FromServer) => {
        if (m.type === 'ready') {
          clearTimeout(t);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    const server = new ServerProcess(side, label, child, pid);
    if (!ready) {
      await server.stop();
      throw new Error(`the ${label} server did not start (see its messages above)`);
    }
    if (side.name === 'kernel') {
      try {
        await connectKernelServer(pid);
      } catch (e) {
        await server.stop();
        throw e;
      }
    }
    if (!(await waitFor(() => reachable(side), 10_000, 200))) {
      await server.stop();
      throw new Error(`the ${label} server at ${side.serverAddr} does not answer HTTP`);
    }
    return server;
  }

  /** CPU, RSS and connection counts; with `gc`, after a full garbage collection. */
  stats(gc = false): Promise<ServerStats> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the ${this.label} server did not answer a stats request within 15 s`));
      }, 15_000);
      this.pending.set(id, (s) => {
        clearTimeout(t);
        resolve(s);
      });
      this.child.send({ cmd: 'stats', id, gc } satisfies ToServer);
    });
  }

  /** Ask it to close and exit; SIGTERM, then SIGKILL, by PID, if it does not. */
  async stop(): Promise<void> {
    if (this.child.connected) {
      try {
        this.child.send({ cmd: 'stop' } satisfies ToServer);
      } catch {
        // Channel already closing.
      }
      if (await exited(this.child, 5000)) return;
    }
    await stopChild(this.child);
  }
}

async function reachable(side: Side): Promise<boolean> {
  const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `http://${side.serverAddr}/bytes/1`], { timeoutMs: 5000, allowFail: true });
  return r.stdout.trim() === '200';
}

/**
 * The veth pair: `tb-cli` in the bench's namespace (10.91.0.1/24), `tb-srv` moved into the
 * server's namespace (10.91.0.2/24), both MTU 1500 with the driver's default offloads.
 * Interface names are private to the bench's namespace, so they cannot clash with the
 * host's.
 */
async function connectKernelServer(pid: number): Promise<void> {
  // The server must already be in its own namespace, or the veth end would stay here.
  if (readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net')) {
    throw new Error('the kernel-side server is not in a network namespace of its own');
  }
  const { clientVeth, serverVeth, clientAddr, serverAddr } = KERNEL_SIDE;
  // A previous server's namespace is torn down asynchronously; its pair goes with it.
  await removeVeth();
  const ip = (...args: string[]): Promise<unknown> => run('ip', args, { timeoutMs: 10_000 });
  await ip('link', 'add', clientVeth, 'type', 'veth', 'peer', 'name', serverVeth);
  await ip('link', 'set', serverVeth, 'netns', String(pid));
  await ip('addr', 'add', `${clientAddr}/24`, 'dev', clientVeth);
  await ip('link', 'set', clientVeth, 'mtu', '1500', 'up');
  const script = [
    'ip link set lo up',
    `ip addr add ${serverAddr}/24 dev ${serverVeth}`,
    `ip link set ${serverVeth} mtu 1500 up`,
    // IPv4 only, as on the TUN side: no router solicitations or MLD on the wire.
    'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6',
  ].join(' && ');
  await run('nsenter', ['-t', String(pid), '-n', 'sh', '-c', script], { timeoutMs: 10_000 });
}

/** Delete the bench's veth end if it is still there (bounded wait for the kernel's own cleanup first). */
export async function removeVeth(): Promise<void> {
  const exists = async (): Promise<boolean> => (await run('ip', ['link', 'show', KERNEL_SIDE.clientVeth], { timeoutMs: 5000, allowFail: true })).code === 0;
  if (!(await exists())) return;
  if (await waitFor(async () => !(await exists()), 3000, 100)) return;
  await run('ip', ['link', 'del', KERNEL_SIDE.clientVeth], { timeoutMs: 5000, allowFail: true });
}


/**
 * Packets the kernel dropped on their way into tuntcp's TUN device (tx, seen from the
 * kernel), from /proc/net/dev: the bench namespace's own table (/sys/class/net would show
 * the namespace sysfs was mounted in). A full device queue (txqueuelen packets waiting
 * for tuntcp to read them) drops here. null when the device is not there.
 */
export function tunTxDropped(): number | null {
  const line = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .find((l) => l.trimStart().startsWith(`${TUNTCP_SIDE.dev}:`));
  if (line === undefined) return null;
  // After "dev:": 8 receive fields (bytes packets errs drop fifo frame compressed multicast), then transmit (bytes packets errs drop ...).
  const fields = (line.split(':')[1] ?? '').trim().split(/\s+/).map(Number);
  const drop = fields[11];
  return drop === undefined || !Number.isFinite(drop) ? null : drop;
}
