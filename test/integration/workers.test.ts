/**
 * Issue 6 item 4 against the kernel: `tuntcp up --workers 2` runs two stacks on two
 * queues of one multi-queue TUN device. The kernel spreads flows over the queues by
 * hash; each flow must stay whole on its worker (every request answered, every echoed
 * byte back), both workers must get flows, and `tuntcp stats` must add them up.
 */
import test from 'ava';
import * as net from 'node:net';
import { CLI, assertInPrivateNetns, run, startCli } from '../helpers/netns';
import type { StatsReply } from '../../src/control/stats';

test.before(() => assertInPrivateNetns());

test.serial('--workers 2: flows spread over both queues, each served whole, stats merged', async (t) => {
  const cli = await startCli(['up', '--dev', 'tt-wrk', '--host-addr', '10.85.0.1/24', '--addr', '10.85.0.2', '--workers', '2', '--no-ladders']);
  try {
    t.regex(cli.stdout(), /2 workers, one queue each/);
    // 40 HTTP requests, 8 at a time, each on its own connection.
    const r = await run('sh', ['-c', 'seq 1 40 | xargs -P 8 -I{} curl -sS -m 10 -o /dev/null -w "%{http_code}\\n" http://10.85.0.2/bytes/20000 | grep -c 200'], { timeoutMs: 60_000 });
    t.is(r.stdout.trim(), '40', r.stderr);

    // 16 concurrent echo connections, each with its own bytes.
    const echoes = Array.from({ length: 16 }, (_, i) => echoRoundTrip('10.85.0.2', Buffer.alloc(50_000, i + 1)));
    for (const ok of await Promise.all(echoes)) t.true(ok, 'every echo came back whole');

    const stats = await run(process.execPath, [CLI, 'stats', '--dev', 'tt-wrk', '--json']);
    t.is(stats.code, 0, stats.stderr);
    const reply = JSON.parse(stats.stdout) as StatsReply;
    t.is(reply.workers?.length, 2);
    const opened = reply.workers!.map((w) => w.passiveOpens);
    t.log(`passive opens per worker: ${opened.join(', ')}`);
    // 56 flows hashed over two queues: all on one would be a 1 in 2^55 chance.
    t.true(opened.every((n) => n > 0), 'both workers served flows');
    t.is(reply.counters.tcpPassiveOpens, opened[0]! + opened[1]!);
    t.true(reply.counters.tcpPassiveOpens >= 56);
    t.is(reply.counters.drops.tcp_no_socket ?? 0, 0, 'no segment reached a worker that did not own its flow');
  } finally {
    t.is(await cli.stop('SIGINT'), 0, 'both workers stop cleanly');
  }
});

test.serial('--workers 2 with --pcap is refused with a clear error', async (t) => {
  const r = await run(process.execPath, [CLI, 'up', '--dev', 'tt-wrk2', '--workers', '2', '--pcap', '/tmp/x.pcap']);
  t.not(r.code, 0);
  t.regex(r.stderr, /--pcap .*--workers 1/);
});

function echoRoundTrip(host: string, data: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const s = net.connect({ host, port: 7 }, () => s.end(data));
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
    });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(got === data.length && Buffer.concat(chunks).equals(data)));
    s.setTimeout(20_000, () => s.destroy());
  });
}
