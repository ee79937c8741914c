/**
 * Starting and stopping the two server processes (bench/server.ts), and the kernel side's
 * network: the server in a namespace of its own (`unshare -n`, so the namespace lives
 * exactly as long as that process), a veth pair between it and the bench's namespace.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { exited, run, stopChild, track, waitFor } from './children';
import { type FromServer, KERNEL_SIDE, type ServerStats, type Side, type ToServer } from './protocol';

const SERVER_SCRIPT = path.join(__dirname, '..', 'server.ts');
const TS_NODE = require.resolve('ts-node/register/transpile-only');

export interface ServerOptions {
  /** tuntcp: keep ladder diagrams as `tuntcp up` does (default true). */
  ladder: boolean;
}

export class ServerProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (s: ServerStats) => void>();

  private constructor(
    readonly side: Side,
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
    if (side.name === 'tuntcp' && !opts.ladder) node.push('--no-ladder');
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
    const server = new ServerProcess(side, child, pid);
    if (!ready) {
      await server.stop();
      throw new Error(`the ${side.name} server did not start (see its messages above)`);
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
      throw new Error(`the ${side.name} server at ${side.serverAddr} does not answer HTTP`);
    }
    return server;
  }

  /** CPU, RSS and connection counts; with `gc`, after a full garbage collection. */
  stats(gc = false): Promise<ServerStats> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the ${this.side.name} server did not answer a stats request within 15 s`));
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

