/**
 * Random packet loss made by the kernel, both ways, for the private namespace's TUN
 * device (issue 4's recipe):
 *
 * - packets from the stack are dropped by nftables in the input hook (a drop in the
 *   output hook would be reported to the sending socket, which resends at once: not
 *   real loss);
 * - the kernel's own packets to the stack are marked at random in a route-type output
 *   chain, and policy routing sends marked packets into a veth pair where they vanish
 *   without the socket hearing of it: a static neighbour entry gives them a MAC address
 *   nobody has (no ARP failure for the socket to hear of), and the far end, up, drops
 *   them on arrival. (With the far end down, as first planned, the near end has no
 *   carrier and the kernel reports the failed send to the socket: not real loss.)
 */
import { existsSync } from 'node:fs';
import { run } from './netns';

/**
 * nftables' own binary, by absolute path: under npx, node_modules/.bin comes first on the
 * PATH, and a dependency of ava installs an unrelated `nft` there.
 */
const NFT = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft';

async function sh(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

export interface KernelLoss {
  /** Packets dropped so far: from the stack (input hook) and to it (blackholed). */
  counts(): Promise<{ fromStack: number; toStack: number }>;
  remove(): Promise<void>;
}

/**
 * Lose `percent`% of packets both ways between the kernel and the stack at `stackAddr`
 * on `dev`. `id` (1-200) keeps concurrent uses apart: it is the firewall mark and the
 * routing table number.
 */
export async function addKernelLoss(dev: string, subnet: string, stackAddr: string, percent: number, id = 77): Promise<KernelLoss> {
  const mark = `0x${id.toString(16)}`;
  const table = `tuntcp_loss_${dev.replace(/[^a-z0-9]/gi, '_')}`;
  const blackhole = `bh${id}x${process.pid % 100000}`;
  await sh(NFT, ['add', 'table', 'inet', table]);
  await sh(NFT, ['add', 'chain', 'inet', table, 'in', '{ type filter hook input priority 0 ; }']);
  await sh(NFT, ['add', 'rule', 'inet', table, 'in', 'iifname', dev, 'numgen', 'random', 'mod', '100', '<', String(percent), 'counter', 'drop']);
  await sh(NFT, ['add', 'chain', 'inet', table, 'out', '{ type route hook output priority 0 ; }']);
  await sh(NFT, ['add', 'rule', 'inet', table, 'out', 'ip', 'daddr', subnet, 'numgen', 'random', 'mod', '100', '<', String(percent), 'counter', 'meta', 'mark', 'set', mark]);
  await sh('ip', ['link', 'add', blackhole, 'type', 'veth', 'peer', 'name', `${blackhole}p`]);
  // Both ends up: a veth whose peer is down has no carrier, and the kernel then refuses
  // the packet at the device (the sending socket hears of it, and it is not loss). With
  // the peer up, the packet crosses, is addressed to a MAC nobody has, and is dropped on
  // arrival without a word to the sender.
  await sh('ip', ['link', 'set', blackhole, 'up']);
  await sh('ip', ['link', 'set', `${blackhole}p`, 'up']);
  await sh('ip', ['route', 'add', subnet, 'dev', blackhole, 'table', String(id)]);
  // A permanent neighbour entry: no ARP on the hole, so no "host unreachable" reaches the
  // sending socket — the packet just vanishes, as on a lossy wire.
  await sh('ip', ['neigh', 'replace', stackAddr, 'lladdr', '02:00:00:00:00:77', 'dev', blackhole, 'nud', 'permanent']);
  await sh('ip', ['rule', 'add', 'fwmark', mark, 'table', String(id)]);
  return {
    async counts() {
      const r = await run(NFT, ['list', 'table', 'inet', table]);
      const packets = [...r.stdout.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
      return { fromStack: packets[0] ?? 0, toStack: packets[1] ?? 0 };
    },
    async remove() {
      await run('ip', ['rule', 'del', 'fwmark', mark, 'table', String(id)]);
      await run('ip', ['link', 'del', blackhole]);
      await run(NFT, ['delete', 'table', 'inet', table]);
    },
  };
}
