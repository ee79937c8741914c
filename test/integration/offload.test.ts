/**
 * Issue 6's offload path against the kernel (`tuntcp up --offload on`): TCP packets
 * larger than the MTU cross the TUN device both ways. Out, the stack hands the kernel
 * TSO packets (one TCP header, many MSS of data, checksum left partial) and the kernel's
 * TCP must receive every byte intact; in, the kernel hands us GRO/TSO packets with a
 * partial checksum and we must take them. The capture shows the large packets, and the
 * kernel's own checksum-error counters stay put.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { readPcap } from '../../src/trace/pcap';
import { parseIpv4 } from '../../src/wire/ipv4';
import { CLI, assertInPrivateNetns, run, startCli } from '../helpers/netns';

test.before(() => assertInPrivateNetns());

const MTU = 1500;

/** The kernel's TCP checksum-error counters (Tcp InCsumErrors in /proc/net/snmp). */
function kernelTcpCsumErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('InCsumErrors')]);
}

/** Sizes of the TCP packets in a capture, by direction relative to `stackAddr`. */
function tcpPacketSizes(file: string, stackAddr: string): { out: number[]; in: number[] } {
  const me = parseIpv4(stackAddr)!;
  const sizes = { out: [] as number[], in: [] as number[] };
  for (const r of readPcap(readFileSync(file)).records) {
    const p = r.data;
    if (p.length < 20 || p[9] !== 6) continue;
    const len = p.readUInt16BE(2);
    if (p.readUInt32BE(12) === me) sizes.out.push(len);
    else if (p.readUInt32BE(16) === me) sizes.in.push(len);
  }
  return sizes;
}

test.serial('--offload on: TSO packets out and GRO packets in, every byte intact at both ends', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-offload-'));
  const pcap = path.join(dir, 'offload.pcap');
  const csumErrorsBefore = kernelTcpCsumErrors();
  const cli = await startCli(['up', '--dev', 'tt-off', '--host-addr', '10.83.0.1/24', '--addr', '10.83.0.2', '--offload', 'on', '--pcap', pcap]);
  try {
    t.regex(cli.stdout(), /offloads on/);
    // Out: 4 MB from GET /bytes/N, whose byte k is k mod 256 (apps/http-site.ts).
    const n = 4_000_000;
    const expected = Buffer.alloc(n);
    for (let k = 0; k < n; k++) expected[k] = k & 0xff;
    const down = await run('sh', ['-c', `curl -sS -m 30 http://10.83.0.2/bytes/${n} | sha256sum`]);
    t.is(down.code, 0, down.stderr);
    t.is(down.stdout.split(' ')[0], createHash('sha256').update(expected).digest('hex'), 'the kernel received exactly the pattern');

    // In: 4 MB of random bytes uploaded; the stack's sha256 must match ours.
    const data = randomBytes(4_000_000);
    const file = path.join(dir, 'up.bin');
    writeFileSync(file, data);
    const up = await run('curl', ['-sS', '-m', '30', '-T', file, 'http://10.83.0.2/upload']);
    t.is(up.code, 0, up.stderr);
    const reply = JSON.parse(up.stdout) as { bytes: number; sha256: string };
    t.is(reply.bytes, data.length);
    t.is(reply.sha256, createHash('sha256').update(data).digest('hex'));
  } finally {
    t.is(await cli.stop('SIGINT'), 0);
  }
  t.is(kernelTcpCsumErrors(), csumErrorsBefore, 'the kernel found no bad TCP checksum in what we sent');
  const sizes = tcpPacketSizes(pcap, '10.83.0.2');
  const bigOut = sizes.out.filter((l) => l > MTU);
  const bigIn = sizes.in.filter((l) => l > MTU);
  t.true(bigOut.length > 0, `TSO packets out (largest ${Math.max(...sizes.out)} bytes)`);
  t.true(bigIn.length > 0, `GRO packets in (largest ${Math.max(...sizes.in)} bytes)`);
  t.true(Math.max(...sizes.out) <= 65535 && Math.max(...sizes.in) <= 65535);
  t.log(`out: ${sizes.out.length} packets, ${bigOut.length} over the MTU (largest ${Math.max(...sizes.out)}); in: ${sizes.in.length}, ${bigIn.length} over (largest ${Math.max(...sizes.in)})`);
});

test.serial('--offload on: tuntcp connect to a kernel nc -l (handshake, small segments, FIN) both ways', async (t) => {
  // Small segments and control segments also leave their checksum to the device.
  const csumErrorsBefore = kernelTcpCsumErrors();
  const nc = spawn('sh', ['-c', '(printf "from-kernel\\n"; sleep 1) | exec nc -N -l 9001'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let ncOut = '';
    nc.stdout!.on('data', (d: Buffer) => (ncOut += d.toString()));
    const ncExit = new Promise<number | null>((resolve) => nc.on('exit', (c) => resolve(c)));
    await new Promise((r) => setTimeout(r, 300));
    const cmd = `(printf "from-stack\\n"; sleep 0.5) | ${process.execPath} ${CLI} connect 10.84.0.1 9001 --dev tt-off2 --host-addr 10.84.0.1/24 --addr 10.84.0.2 --offload on`;
    const r = await run('sh', ['-c', cmd], { timeoutMs: 20_000 });
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'from-kernel\n');
    t.is(await ncExit, 0);
    t.is(ncOut, 'from-stack\n');
  } finally {
    nc.kill();
  }
  t.is(kernelTcpCsumErrors(), csumErrorsBefore);
});
