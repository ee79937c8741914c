/**
 * Reliable delivery against the kernel's TCP over a lossy link (issue 4): 20 MB down
 * and up at 5% loss both ways, 2 MB at 20%: once with the loss made by the kernel
 * (nftables + policy routing, test/helpers/kernel-loss.ts), once by the stack's own
 * impairment shim (--impair).
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BYTES_CHUNK } from '../../src/apps/http-site';
import { addKernelLoss } from '../helpers/kernel-loss';
import { assertInPrivateNetns, run, startCli } from '../helpers/netns';

test.before(() => assertInPrivateNetns());

function expectedBytesSha(n: number): string {
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= BYTES_CHUNK.length) h.update(left >= BYTES_CHUNK.length ? BYTES_CHUNK : BYTES_CHUNK.subarray(0, left));
  return h.digest('hex');
}

/**
 * Download and upload `bytes`, each within `bound` seconds. At 20% loss both ways a
 * third of round trips fail, and the kernel's own sender (the upload) backs its RTO off
 * to tens of seconds now and then — RFC 7323 §4.3 has the receiver echo the timestamp of
 * the last in-order segment, so RTT samples taken across a loss include it. Hence the
 * generous bound; typical runs take a fraction of it.
 */
async function transfer(t: import('ava').ExecutionContext, addr: string, bytes: number, bound = 120): Promise<void> {
  const down = await run('sh', ['-c', `curl -sS -m ${bound} http://${addr}/bytes/${bytes} | sha256sum`], { timeoutMs: (bound + 10) * 1000 });
  t.is(down.stdout.split(' ')[0], expectedBytesSha(bytes), `download: ${down.stderr}`);
  t.log(`download of ${bytes} bytes intact`);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'tuntcp-')), 'up.bin');
  const data = randomBytes(bytes);
  writeFileSync(file, data);
  const up = await run('curl', ['-sS', '-m', String(bound), '-T', file, `http://${addr}/upload`], { timeoutMs: (bound + 10) * 1000 });
  t.is(up.code, 0, up.stderr);
  t.is((JSON.parse(up.stdout) as { sha256: string }).sha256, createHash('sha256').update(data).digest('hex'));
}

// The runs spend most of their time waiting out retransmission timers, so they run
// side by side, each on its own device, subnet and firewall mark.
for (const [percent, mb, n] of [
  [5, 20, 1],
  [20, 2, 2],
] as const) {
  kernelLossTest(`kernel-made loss of ${percent}% both ways: ${mb} MB down and up arrive intact`, percent, mb, n, []);

  test(`--impair loss=${percent}%: ${mb} MB down and up arrive intact`, async (t) => {
    const subnet = `10.82.${n}`;
    const cli = await startCli(['up', '--dev', `tt-imp${n}`, '--host-addr', `${subnet}.1/24`, '--addr', `${subnet}.2`, '--impair', `loss=${percent}%,seed=${percent}`]);
    try {
      t.regex(cli.stdout(), /impaired \(seed \d+\)/);
      await transfer(t, `${subnet}.2`, mb * 1_000_000, percent >= 20 ? 300 : 120);
    } finally {
      await cli.stop();
    }
  });
}

// Whole TSO and GRO packets are lost at once here (up to 44 segments each), so recovery
// repairs bursts, one segment at a time.
kernelLossTest('kernel-made loss of 5% both ways with --offload on: 20 MB down and up arrive intact', 5, 20, 3, ['--offload', 'on']);

/** `mb` MB each way through `tuntcp up` on its own device, subnet and mark `n`, with `percent`% loss made by the kernel. */
function kernelLossTest(title: string, percent: number, mb: number, n: number, extraArgs: string[]): void {
  test(title, async (t) => {
    const dev = `tt-kloss${n}`;
    const subnet = `10.79.${n}`;
    const cli = await startCli(['up', '--dev', dev, '--host-addr', `${subnet}.1/24`, '--addr', `${subnet}.2`, ...extraArgs]);
    const loss = await addKernelLoss(dev, `${subnet}.0/24`, `${subnet}.2`, percent, 100 + n);
    try {
      await transfer(t, `${subnet}.2`, mb * 1_000_000, percent >= 20 ? 300 : 120);
      const dropped = await loss.counts();
      t.log(`dropped ${dropped.fromStack} packets from the stack, ${dropped.toStack} to it`);
      t.true(dropped.fromStack > 0 && dropped.toStack > 0, 'loss happened in both directions');
    } finally {
      await loss.remove();
      await cli.stop();
    }
  });
}
