// Packets the Linux kernel built, read from a TUN device inside `unshare -n`
// (test/fixtures/kernel-packets.json; how they were captured: test/fixtures/capture.md).
// Our views must read what the kernel wrote, our checksums must agree with the kernel's,
// and our builders must reproduce the kernel's bytes from the parsed fields.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onesComplementSum, pseudoHeaderSum } from '../../src/wire/checksum';
import { ICMP_HEADER_LEN, IcmpType, IcmpUnreachableCode, IcmpView, finishIcmpChecksum } from '../../src/wire/icmp';
import { IPV4_FLAG_DF, IpProtocol, Ipv4View, ipv4ToString, parseIpv4, writeIpv4Header } from '../../src/wire/ipv4';
import { TcpFlag, TcpView, finishTcpChecksum, flagsToString, writeTcpHeader } from '../../src/wire/tcp';
import { TcpOptions, parseTcpOptions, writeTcpOptions } from '../../src/wire/tcp-options';

interface IpExpect {
  version: number; headerLength: number; tos: number; totalLength: number; identification: number;
  dontFragment: boolean; moreFragments: boolean; fragmentOffset: number; ttl: number; protocol: number;
  checksum: number; src: string; dst: string;
}
interface IcmpExpect { type: number; code: number; checksum: number; identifier?: number; sequence?: number; length: number }
interface TcpExpect {
  srcPort: number; dstPort: number; seq: number; ack: number; headerLength: number; flags: number;
  window: number; checksum: number; urgentPointer: number;
}
interface OptionsExpect { mss?: number; windowScale?: number; sackPermitted?: boolean; tsVal?: number; tsEcr?: number }
interface Fixture {
  name: string;
  how: string;
  hex: string;
  expect: { ip: IpExpect; icmp?: IcmpExpect; tcp?: TcpExpect; options?: OptionsExpect; optionsHex?: string; payload?: string };
}

const file = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'kernel-packets.json'), 'utf8')) as { packets: Fixture[] };
const packets = new Map(file.packets.map((p) => [p.name, p]));

function packet(name: string): { f: Fixture; buf: Buffer; ip: Ipv4View } {
  const f = packets.get(name);
  if (f === undefined) throw new Error(`fixture ${name} missing`);
  const buf = Buffer.from(f.hex, 'hex');
  return { f, buf, ip: new Ipv4View().wrap(buf, 0, buf.length) };
}

const addr = (s: string): number => parseIpv4(s) ?? -1;

test('the fixture file holds the seven captured packets', (t) => {
  t.deepEqual([...packets.keys()].sort(), [
    'icmp-echo-reply', 'icmp-echo-request', 'icmp-port-unreachable', 'tcp-data', 'tcp-syn', 'tcp-syn-ack', 'udp-datagram',
  ]);
});

for (const f of file.packets) {
  test(`${f.name}: IPv4 header fields, checksum, and a byte-identical rebuild`, (t) => {
    const { buf, ip } = packet(f.name);
    const e = f.expect.ip;
    t.is(ip.version, e.version);
    t.is(ip.headerLength, e.headerLength);
    t.is(ip.tos, e.tos);
    t.is(ip.totalLength, e.totalLength);
    t.is(ip.totalLength, buf.length);
    t.is(ip.identification, e.identification);
    t.is(ip.dontFragment, e.dontFragment);
    t.is(ip.moreFragments, e.moreFragments);
    t.is(ip.fragmentOffset, e.fragmentOffset);
    t.is(ip.ttl, e.ttl);
    t.is(ip.protocol, e.protocol);
    t.is(ip.checksum, e.checksum);
    t.is(ipv4ToString(ip.src), e.src);
    t.is(ipv4ToString(ip.dst), e.dst);
    t.true(ip.headerChecksumOk());
    const copy = Buffer.from(buf);
    copy[10] = copy[10]! ^ 0x01;
    t.false(new Ipv4View().wrap(copy, 0, copy.length).headerChecksumOk());
    // Rebuild the header from the parsed fields: same 20 bytes, same checksum as the kernel's.
    const rebuilt = Buffer.alloc(20, 0xaa);
    writeIpv4Header(rebuilt, 0, ip.totalLength, ip.identification, ip.flagsFragment, ip.ttl, ip.protocol, ip.src, ip.dst, ip.tos);
    t.is(rebuilt.toString('hex'), buf.subarray(0, 20).toString('hex'));
  });
}

for (const name of ['icmp-echo-request', 'icmp-echo-reply', 'icmp-port-unreachable']) {
  test(`${name}: ICMP fields and the kernel's checksum`, (t) => {
    const { f, buf, ip } = packet(name);
    const e = f.expect.icmp!;
    const off = ip.headerLength;
    const len = ip.totalLength - off;
    t.is(len, e.length);
    const icmp = new IcmpView().wrap(buf, off, len);
    t.is(icmp.type, e.type);
    t.is(icmp.code, e.code);
    t.is(icmp.checksum, e.checksum);
    if (e.identifier !== undefined) t.is(icmp.identifier, e.identifier);
    if (e.sequence !== undefined) t.is(icmp.sequence, e.sequence);
    t.true(icmp.checksumOk());
    t.is(len % 2, 1, 'odd length: exercises the zero pad');
    // Recomputing from scratch gives the kernel's value.
    const copy = Buffer.from(buf);
    copy.writeUInt16BE(0x1234, off + 2);
    finishIcmpChecksum(copy, off, len);
    t.is(copy.readUInt16BE(off + 2), e.checksum);
  });
}

test('icmp-echo-request is an echo request from the kernel ping socket', (t) => {
  const { buf, ip } = packet('icmp-echo-request');
  const icmp = new IcmpView().wrap(buf, ip.headerLength, ip.totalLength - ip.headerLength);
  t.is(ip.protocol, IpProtocol.ICMP);
  t.is(icmp.type, IcmpType.ECHO_REQUEST);
  t.is(icmp.sequence, 7);
});

test('icmp-port-unreachable quotes our UDP datagram, whose header still verifies', (t) => {
  const { buf, ip } = packet('icmp-port-unreachable');
  const icmp = new IcmpView().wrap(buf, ip.headerLength, ip.totalLength - ip.headerLength);
  t.is(icmp.type, IcmpType.DEST_UNREACHABLE);
  t.is(icmp.code, IcmpUnreachableCode.PORT);
  const qOff = ip.headerLength + ICMP_HEADER_LEN;
  const quoted = new Ipv4View().wrap(buf, qOff, buf.length - qOff);
  t.is(quoted.version, 4);
  t.is(quoted.protocol, IpProtocol.UDP);
  t.is(quoted.identification, 0x2222);
  t.is(quoted.src, addr('10.77.0.2'));
  t.is(quoted.dst, addr('10.77.0.1'));
  t.true(quoted.headerChecksumOk());
});

test('udp-datagram: the UDP checksum verifies with pseudoHeaderSum (RFC 768)', (t) => {
  const { buf, ip } = packet('udp-datagram');
  const off = ip.headerLength;
  const len = ip.totalLength - off;
  t.is(buf.subarray(off + 8).toString(), 'hello tuntcp');
  t.is(onesComplementSum(buf, off, len, pseudoHeaderSum(ip.src, ip.dst, IpProtocol.UDP, len)), 0xffff);
  t.not(onesComplementSum(buf, off, len, pseudoHeaderSum(ip.src, ip.dst, IpProtocol.TCP, len)), 0xffff);
});

for (const name of ['tcp-syn', 'tcp-syn-ack', 'tcp-data']) {
  test(`${name}: TCP fields, options, the kernel's checksum, and a byte-identical rebuild`, (t) => {
    const { f, buf, ip } = packet(name);
    const e = f.expect.tcp!;
    const off = ip.headerLength;
    const len = ip.totalLength - off;
    const tcp = new TcpView().wrap(buf, off, len);
    t.is(tcp.srcPort, e.srcPort);
    t.is(tcp.dstPort, e.dstPort);
    t.is(tcp.seq, e.seq);
    t.is(tcp.ack, e.ack);
    t.is(tcp.headerLength, e.headerLength);
    t.is(tcp.flags, e.flags);
    t.is(tcp.window, e.window);
    t.is(tcp.checksum, e.checksum);
    t.is(tcp.urgentPointer, e.urgentPointer);
    t.true(tcp.checksumOk(ip.src, ip.dst));
    t.false(tcp.checksumOk(ip.src, ip.dst + 1));

    const opts = new TcpOptions();
    t.true(parseTcpOptions(buf, tcp.optionsOffset, tcp.optionsLength, opts));
    const o = f.expect.options!;
    t.is(opts.mss, o.mss ?? -1);
    t.is(opts.windowScale, o.windowScale ?? -1);
    t.is(opts.sackPermitted, o.sackPermitted ?? false);
    t.is(opts.hasTimestamps, o.tsVal !== undefined);
    t.is(opts.tsVal, o.tsVal ?? 0);
    t.is(opts.tsEcr, o.tsEcr ?? 0);
    t.is(opts.sackCount, 0);

    // Rebuild header, options and payload from the parsed values: the kernel's bytes.
    const syn = (tcp.flags & TcpFlag.SYN) !== 0;
    const out = Buffer.alloc(len, 0xaa);
    writeTcpHeader(out, 0, tcp.srcPort, tcp.dstPort, tcp.seq, tcp.ack, tcp.headerLength, tcp.flags, tcp.window, tcp.urgentPointer);
    t.is(writeTcpOptions(out, 20, opts, syn), tcp.optionsLength);
    buf.copy(out, tcp.headerLength, tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength);
    finishTcpChecksum(out, 0, len, ip.src, ip.dst);
    t.is(out.toString('hex'), buf.subarray(off, off + len).toString('hex'));
  });
}

test('tcp-syn: the kernel SYN carries MSS 1460, SACK-permitted, timestamps and window scale', (t) => {
  const { f, buf, ip } = packet('tcp-syn');
  const tcp = new TcpView().wrap(buf, ip.headerLength, ip.totalLength - ip.headerLength);
  t.is(flagsToString(tcp.flags), 'SYN');
  t.is(tcp.dstPort, 80);
  t.is(ip.flagsFragment, IPV4_FLAG_DF);
  const opts = new TcpOptions();
  t.true(parseTcpOptions(buf, tcp.optionsOffset, tcp.optionsLength, opts));
  t.is(opts.mss, 1460); // MTU 1500 - 40 (RFC 9293 §3.7.1)
  t.true(opts.sackPermitted);
  t.true(opts.hasTimestamps);
  t.is(opts.tsEcr, 0);
  t.is(opts.windowScale, 10); // as captured (kernel 6.18; depends on tcp_rmem)
  t.is(buf.subarray(tcp.optionsOffset, tcp.optionsOffset + tcp.optionsLength).toString('hex'), f.expect.optionsHex ?? 'missing');
  t.is(tcp.payloadLength, 0);
});

test('tcp-syn-ack: acknowledges an ISN near 2^32 (0xffffff00 + 1)', (t) => {
  const { buf, ip } = packet('tcp-syn-ack');
  const tcp = new TcpView().wrap(buf, ip.headerLength, ip.totalLength - ip.headerLength);
  t.is(flagsToString(tcp.flags), 'SYN,ACK');
  t.is(tcp.ack, 0xffffff01);
  const opts = new TcpOptions();
  t.true(parseTcpOptions(buf, tcp.optionsOffset, tcp.optionsLength, opts));
  t.is(opts.tsEcr, 12345); // our tsVal, echoed (RFC 7323 §3.2)
});

test('tcp-data: 41 bytes of payload with NOP NOP TS, odd length checksummed', (t) => {
  const { f, buf, ip } = packet('tcp-data');
  const tcp = new TcpView().wrap(buf, ip.headerLength, ip.totalLength - ip.headerLength);
  t.is(flagsToString(tcp.flags), 'PSH,ACK');
  t.is(tcp.headerLength, 32);
  t.is(tcp.payloadLength, 41);
  t.is(buf.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength).toString(), f.expect.payload ?? 'missing');
  t.true(tcp.checksumOk(ip.src, ip.dst));
});
