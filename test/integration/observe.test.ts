/**
 * Issue 5's acceptance, against the kernel: a curl request to `tuntcp up --pcap --trace`
 * prints a ladder with the labelled handshake (ack = ISN+1 both ways) and a complete
 * teardown; tshark reads the capture, lists the same segments, and finds nothing
 * malformed or wrong (checksums verified); GET /metrics parses as Prometheus text.
 */
import test from 'ava';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { assertInPrivateNetns, run, startCli } from '../helpers/netns';

test.before(() => assertInPrivateNetns());

const TSHARK = ['/usr/bin/tshark', '/usr/sbin/tshark'].find((p) => existsSync(p));

test.serial('curl against tuntcp up --pcap --trace: the ladder, and tshark agrees with it', async (t) => {
  if (TSHARK === undefined) {
    if (process.env.CI === 'true') return t.fail('tshark is not installed (apt-get install tshark)');
    return t.pass('tshark missing: skipped (CI installs it)');
  }
  const pcap = path.join(mkdtempSync(path.join(tmpdir(), 'tuntcp-')), 'f.pcap');
  const cli = await startCli(['up', '--dev', 'tt-obs', '--host-addr', '10.80.0.1/24', '--addr', '10.80.0.2', '--pcap', pcap, '--trace']);
  let out: string;
  try {
    const r = await run('curl', ['-sS', '-m', '10', '-o', '/dev/null', 'http://10.80.0.2/bytes/5000']);
    t.is(r.code, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 500)); // let the teardown finish
  } finally {
    t.is(await cli.stop('SIGINT'), 0);
    out = cli.stdout();
  }
  const lines = out.split('\n').filter((l) => l.startsWith('#1 '));
  const find = (label: string): string => lines.find((l) => l.includes(label)) ?? '';
  const h1 = find('handshake 1/3');
  const h2 = find('handshake 2/3');
  const h3 = find('handshake 3/3');
  t.regex(h1, /──SYN seq=0 len=0/);
  t.regex(h2, /◀──SYN,ACK seq=0 ack=1 /, 'the SYN,ACK acknowledges the client ISN + 1');
  t.regex(h3, /──ACK seq=1 ack=1 /, 'the ACK acknowledges our ISN + 1');
  // Absolute numbers: ack = ISN + 1 in both directions.
  const abs = (l: string, k: 'seq' | 'ack'): number => Number(new RegExp(`\\[.*${k}=(\\d+)`).exec(l)?.[1]);
  t.is(abs(h2, 'ack'), (abs(h1, 'seq') + 1) >>> 0);
  t.is(abs(h3, 'ack'), (abs(h2, 'seq') + 1) >>> 0);
  t.truthy(lines.find((l) => /teardown (4\/4|3\/3)/.test(l)), 'a complete teardown');
  t.truthy(lines.find((l) => / done: .*teardown/.test(l)));
  const arrows = lines.filter((l) => l.includes('──'));

  // tshark: the same segments, in order, and nothing malformed or suspicious.
  const fields = await run(TSHARK, ['-r', pcap, '-Y', 'tcp', '-T', 'fields', '-e', 'tcp.flags.str', '-e', 'tcp.len']);
  t.is(fields.code, 0, fields.stderr);
  const segs = fields.stdout.trim().split('\n');
  t.is(segs.length, arrows.length, `tshark lists ${segs.length} segments, the ladder ${arrows.length}`);
  const bad = await run(TSHARK, ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', '_ws.malformed || _ws.expert.severity >= "Warning"']);
  t.is(bad.code, 0, bad.stderr);
  t.is(bad.stdout.trim(), '', 'no malformed packets, bad checksums or warnings');
});

test.serial('GET /metrics parses as Prometheus text', async (t) => {
  const cli = await startCli(['up', '--dev', 'tt-met', '--host-addr', '10.81.0.1/24', '--addr', '10.81.0.2']);
  try {
    const r = await run('curl', ['-sS', '-m', '10', '-D', '-', 'http://10.81.0.2/metrics']);
    t.regex(r.stdout, /content-type: text\/plain; version=0\.0\.4/i);
    const body = r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const parse = require('parse-prometheus-text-format') as (text: string) => { name: string; type: string; metrics: unknown[] }[];
    const families = parse(body);
    const names = families.map((f) => f.name);
    for (const n of ['tuntcp_packets_total', 'tuntcp_drops_total', 'tuntcp_tcp_retransmitted_segments_total', 'tuntcp_tcp_connections']) t.true(names.includes(n), n);
  } finally {
    await cli.stop();
  }
});
