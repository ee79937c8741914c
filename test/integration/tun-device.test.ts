/**
 * The TUN addon and its wrappers against the real kernel: configuration through ioctls
 * (cross-checked with `ip -j`), packets in both directions, batching, the error codes and
 * hints, and the interface's lifetime.
 *
 * Runs inside a private network namespace (npm run test:integration); every packet here
 * goes between this process and the kernel of that namespace.
 */
import test, { ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { LinkReceiver } from '../../src/link/link';
import { TunDevice } from '../../src/link/tun-device';
import { TunLink } from '../../src/link/tun-link';

const ROOT = path.resolve(__dirname, '../..');
const HOST = '10.77.9.1';
const PEER = '10.77.9.2';

function netnsOf(pid: number | 'self'): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return null; // gone, or not ours to inspect
  }
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * Whether this process runs in a network namespace other than the machine's: the one of
 * pid 1, or, when pid 1 is out of reach (a sandbox may hide it even from root), the one
 * of the nearest ancestor that is in another namespace (what `unshare -n` leaves behind).
 */
function inPrivateNetns(): boolean {
  const mine = netnsOf('self');
  const init = netnsOf(1);
  if (init !== null) return mine !== init;
  for (let pid = process.ppid; pid > 1; pid = parentOf(pid)) {
    const ns = netnsOf(pid);
    if (ns !== null && ns !== mine) return true;
  }
  return false;
}

// Never configure interfaces or send packets in the machine's own namespace.
test.before(() => {
  if (!inPrivateNetns()) {
    throw new Error('this test creates TUN devices and sends packets: run it via npm run test:integration (a private network namespace)');
  }
});

let serial = 0;
/** A name no other test (or run of this file) uses: at most 15 bytes. */
function uniqueName(): string {
  serial++;
  return `tt${process.pid % 100000}x${serial}`;
}

/** Open a device configured as the tests expect; released when the test ends. */
function openDevice(t: ExecutionContext, opts: { batchSize?: number } = {}): TunDevice {
  const dev = TunDevice.open({ name: uniqueName(), mtu: 1400, hostAddr: { address: HOST, prefix: 24 }, up: true, ...opts });
  t.teardown(() => dev.release());
  return dev;
}

interface IpJson {
  ifname: string;
  flags: string[];
  mtu: number;
  link_type: string;
  txqlen?: number;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** What iproute2 says about an interface (reading only), or null if it does not exist.
 * Netlink, not /sys/class/net: sysfs shows the namespace that mounted it. */
function ipShow(what: 'addr' | 'link', name: string): IpJson | null {
  const r = spawnSync('ip', ['-j', what, 'show', 'dev', name], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return (JSON.parse(r.stdout) as IpJson[])[0] ?? null;
}

function ipv4ToBytes(a: string): number[] {
  return a.split('.').map(Number);
}

/** The Internet checksum (RFC 1071) of `buf`, folded and complemented. */
function inetChecksum(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2 === 1) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** A complete IPv4/UDP datagram with both checksums (RFC 791 §3.1, RFC 768). */
function buildUdp(src: string, dst: string, srcPort: number, dstPort: number, payload: Buffer, id: number): Buffer {
  const udpLen = 8 + payload.length;
  const pkt = Buffer.alloc(20 + udpLen);
  pkt[0] = 0x45; // version 4, IHL 5
  pkt.writeUInt16BE(pkt.length, 2);
  pkt.writeUInt16BE(id, 4);
  pkt.writeUInt16BE(0x4000, 6); // DF
  pkt[8] = 64; // TTL
  pkt[9] = 17; // UDP
  Buffer.from(ipv4ToBytes(src)).copy(pkt, 12);
  Buffer.from(ipv4ToBytes(dst)).copy(pkt, 16);
  pkt.writeUInt16BE(inetChecksum(pkt.subarray(0, 20)), 10);
  pkt.writeUInt16BE(srcPort, 20);
  pkt.writeUInt16BE(dstPort, 22);
  pkt.writeUInt16BE(udpLen, 24);
  payload.copy(pkt, 28);
  // The pseudo-header: source, destination, zero, protocol, UDP length.
  const pseudo = Buffer.concat([pkt.subarray(12, 20), Buffer.from([0, 17, udpLen >> 8, udpLen & 0xff])]);
  const c = inetChecksum(Buffer.concat([pseudo, pkt.subarray(20)]));
  pkt.writeUInt16BE(c === 0 ? 0xffff : c, 26); // RFC 768: a computed zero is sent as all ones
  return pkt;
}

interface UdpSeen {
  dst: string;
  dstPort: number;
  payload: Buffer;
  headerChecksumOk: boolean;
}

/** Parse an IPv4/UDP packet out of a read slot (a copy: the slot is reused); null otherwise. */
function parseUdp(buf: Buffer, off: number, len: number): UdpSeen | null {
  if (len < 28 || buf[off]! >> 4 !== 4 || buf[off + 9] !== 17) return null;
  const ihl = (buf[off]! & 0x0f) * 4;
  return {
    dst: [...buf.subarray(off + 16, off + 20)].join('.'),
    dstPort: buf.readUInt16BE(off + ihl + 2),
    payload: Buffer.from(buf.subarray(off + ihl + 8, off + len)),
    headerChecksumOk: inetChecksum(buf.subarray(off, off + ihl)) === 0,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** A UDP socket bound on the kernel side's address, collecting `n` datagrams. */
async function udpSink(t: ExecutionContext, n: number): Promise<{ port: number; received: Promise<Buffer[]> }> {
  const sock = dgram.createSocket('udp4');
  t.teardown(() => sock.close());
  const got: Buffer[] = [];
  const received = new Promise<Buffer[]>((resolve) => {
    sock.on('message', (msg) => {
      got.push(msg);
      if (got.length === n) resolve(got);
    });
  });
  await new Promise<void>((resolve) => sock.bind(0, HOST, resolve));
  return { port: sock.address().port, received };
}

/** Send one datagram from the kernel towards the stack's side of the tunnel. */
function kernelSend(payload: Buffer, port: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    sock.send(payload, port, PEER, (err) => {
      sock.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

/** Run a Node snippet in a child (in this namespace) that may load the TypeScript sources;
 * `prefix` is a command to run node under (e.g. setpriv and its options). */
function runChild(code: string, prefix: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const argv = [...prefix, process.execPath, '-r', 'ts-node/register/transpile-only', '-e', code];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.serial('open configures name, MTU, address and flags as the kernel reports them', (t) => {
  const dev = openDevice(t);
  t.regex(dev.name, /^tt\d+x\d+$/);
  t.is(dev.mtu, 1400);
  t.deepEqual(dev.ipv4, { address: HOST, prefix: 24 });
  t.true(dev.isUp);
  t.true(dev.isOpen);
  t.is(dev.slotSize, 1408); // 1400 rounded up to 16

  const addr = ipShow('addr', dev.name);
  t.truthy(addr, `ip addr show dev ${dev.name}`);
  t.is(addr!.mtu, 1400);
  t.is(addr!.link_type, 'none'); // layer 3: no link-layer header
  t.is(addr!.txqlen, 10_000, 'the queue for us to read holds 10,000 packets, not the driver default of 500');
  t.true(addr!.flags.includes('UP'));
  t.true(addr!.flags.includes('POINTOPOINT'));
  t.true(addr!.flags.includes('NOARP'));
  const inet = (addr!.addr_info ?? []).filter((a) => a.family === 'inet');
  t.deepEqual(inet.map((a) => [a.local, a.prefixlen]), [[HOST, 24]]);

  dev.setUp(false);
  t.false(dev.isUp);
  t.false(ipShow('link', dev.name)!.flags.includes('UP'));
  dev.setMtu(1280);
  t.is(dev.mtu, 1280);
  t.is(ipShow('link', dev.name)!.mtu, 1280);
  t.throws(() => dev.setMtu(1500), { code: 'ERR_OUT_OF_RANGE' }, 'the read slots were sized for 1400');
  dev.setUp(true);
  t.true(dev.isUp);
  t.true(ipShow('link', dev.name)!.flags.includes('UP'));
});

test.serial('a datagram the kernel routes into the tunnel arrives as one IPv4/UDP packet', async (t) => {
  const dev = openDevice(t);
  const payload = Buffer.from('hello from the kernel side');
  const seen = new Promise<UdpSeen>((resolve) => {
    dev.onPackets((buf, lens, count, slotSize) => {
      t.is(slotSize, dev.slotSize);
      for (let i = 0; i < count; i++) {
        // Other traffic (IPv6 router solicitations, MLD) shares the tunnel: skip it.
        const udp = parseUdp(buf, i * slotSize, lens[i]!);
        if (udp !== null && udp.dstPort === 9999) resolve(udp);
      }
    });
  });
  await kernelSend(payload, 9999);
  const udp = await withTimeout(seen, 5000, 'the datagram on the TUN device');
  t.is(udp.dst, PEER);
  t.true(udp.headerChecksumOk);
  t.deepEqual(udp.payload, payload);
  t.true(dev.stats.rxPackets >= 1);
  t.true(dev.stats.rxBatches >= 1);
  t.is(dev.stats.rxTruncated, 0);
});

test.serial('writeBatch delivers hand-built IPv4/UDP packets to a kernel socket', async (t) => {
  const dev = openDevice(t);
  const sink = await udpSink(t, 2);
  const a = buildUdp(PEER, HOST, 5000, sink.port, Buffer.from('first'), 1);
  const b = buildUdp(PEER, HOST, 5000, sink.port, Buffer.from('second, a little longer'), 2);
  // Arbitrary offsets in one buffer, as the link's slots would be.
  const buf = Buffer.alloc(256);
  a.copy(buf, 8);
  b.copy(buf, 100);
  const written = dev.writeBatch(buf, Uint32Array.of(8, 100), Uint32Array.of(a.length, b.length), 2);
  t.is(written, 2);
  t.is(dev.stats.txPackets, 2);
  t.is(dev.stats.txDropped, 0);
  const got = await withTimeout(sink.received, 5000, 'two datagrams at the UDP socket');
  t.deepEqual(got.map((m) => m.toString()).sort(), ['first', 'second, a little longer']);

  // A single write, and a packet the kernel rejects (not IP) counts as dropped.
  const single = await udpSink(t, 1);
  const c = buildUdp(PEER, HOST, 5001, single.port, Buffer.from('single'), 3);
  t.true(dev.write(c, 0, c.length));
  t.deepEqual((await withTimeout(single.received, 5000, 'the single datagram')).map(String), ['single']);
  const junk = Buffer.alloc(40, 0xff); // version 15: EINVAL from the tun driver
  t.false(dev.write(junk, 0, junk.length));
  t.is(dev.stats.txDropped, 1);
  t.throws(() => dev.writeBatch(buf, Uint32Array.of(250), Uint32Array.of(10), 1), { code: 'ERR_OUT_OF_RANGE' });
});

test.serial('TunLink delivers batches to its receiver and flushes its slots in one write', async (t) => {
  const dev = openDevice(t, { batchSize: 4 });
  const link = new TunLink(dev);
  t.teardown(() => link.close());
  t.is(link.mtu, 1400);
  t.is(link.txBuf.length, 4 * dev.slotSize);

  const payload = Buffer.from('to the link');
  const events: string[] = [];
  const arrived = new Promise<void>((resolve) => {
    const receiver: LinkReceiver = {
      receive(buf, off, len) {
        const udp = parseUdp(buf, off, len);
        if (udp !== null && udp.dstPort === 7777 && udp.payload.equals(payload)) events.push('udp');
        else events.push('other');
      },
      endOfBatch() {
        events.push('end');
        if (events.includes('udp')) resolve();
      },
    };
    link.start(receiver);
  });
  await kernelSend(payload, 7777);
  await withTimeout(arrived, 5000, 'the datagram through TunLink');
  t.is(events[events.length - 1], 'end');

  // Six packets through a four-slot batch: the fifth reserve() flushes the first four.
  const sink = await udpSink(t, 6);
  for (let i = 0; i < 6; i++) {
    const pkt = buildUdp(PEER, HOST, 6000, sink.port, Buffer.from(`packet ${i}`), 100 + i);
    const off = link.reserve(pkt.length);
    t.is(off, (i % 4) * dev.slotSize);
    pkt.copy(link.txBuf, off);
    link.commit(off, pkt.length);
  }
  t.is(dev.stats.txPackets, 4);
  link.flush();
  t.is(dev.stats.txPackets, 6);
  const got = await withTimeout(sink.received, 5000, 'six datagrams');
  t.deepEqual(got.map(String).sort(), [0, 1, 2, 3, 4, 5].map((i) => `packet ${i}`));
  t.throws(() => link.reserve(1401), { instanceOf: RangeError });

  link.close();
  link.close();
  t.false(dev.isOpen);
});

test.serial('a name already in use fails with EBUSY and a hint naming --dev', (t) => {
  const dev = openDevice(t);
  const err = t.throws(() => TunDevice.open({ name: dev.name }), { code: 'EBUSY' }) as NodeJS.ErrnoException;
  t.is(err.errno, -osConstants.errno.EBUSY);
  t.is(err.syscall, 'ioctl(TUNSETIFF)');
  t.true(err.message.includes(`device name ${dev.name} is in use`), err.message);
  t.true(err.message.includes('--dev'), err.message);
  t.true(dev.isUp, 'the first device is untouched');
});

test.serial('bad names are refused before or by the kernel', (t) => {
  const long = t.throws(() => TunDevice.open({ name: 'a-name-of-16-bch' }), { instanceOf: RangeError, code: 'ERR_INVALID_ARG_VALUE' });
  t.regex(long!.message, /1 to 15 bytes/);
  t.is(ipShow('link', 'a-name-of-16-b'), null, 'nothing was created under a truncated name');
  // dev_valid_name() rejects '/', so TUNSETIFF answers EINVAL.
  const slash = t.throws(() => TunDevice.open({ name: 'bad/name' }), { code: 'EINVAL' }) as NodeJS.ErrnoException;
  t.is(slash.syscall, 'ioctl(TUNSETIFF)');
  t.regex(slash.message, /--dev/);
  t.throws(() => TunDevice.open({ name: uniqueName(), mtu: 40 }), { code: 'ERR_OUT_OF_RANGE' });
});

test.serial('release() closes the device and the interface disappears', (t) => {
  const dev = openDevice(t);
  const name = dev.name;
  t.truthy(ipShow('link', name));
  dev.release();
  t.is(ipShow('link', name), null);
  t.false(dev.isOpen);
  t.false(dev.isUp);
  dev.release(); // idempotent
  t.throws(() => dev.write(Buffer.alloc(20), 0, 20), { code: 'ERR_TUN_CLOSED' });
  // The name is free again.
  const again = TunDevice.open({ name, up: false });
  t.is(again.name, name);
  again.release();
});

test.serial('deleting the interface under an open device reports EBADFD to onError', async (t) => {
  const dev = openDevice(t);
  const failed = new Promise<NodeJS.ErrnoException>((resolve) => dev.onError(resolve));
  execFileSync('ip', ['link', 'del', 'dev', dev.name]);
  const err = await withTimeout(failed, 5000, 'the read error');
  t.is(err.code, 'EBADFD');
  t.regex(err.message, /deleted/);
});

test.serial('an exception thrown by the packets handler is an uncaught exception', (t) => {
  const name = uniqueName();
  const code = `
    const { TunDevice } = require('./src/link/tun-device');
    const dev = TunDevice.open({ name: ${JSON.stringify(name)}, hostAddr: { address: '${HOST}', prefix: 24 } });
    dev.onPackets(() => { throw new Error('thrown by the packets handler'); });
    const s = require('node:dgram').createSocket('udp4');
    s.send('x', 9, '${PEER}', () => s.close());
    setTimeout(() => { console.log('still alive'); process.exit(0); }, 5000);
  `;
  const r = runChild(code);
  t.is(r.status, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /thrown by the packets handler/);
  t.is(ipShow('link', name), null, 'the interface went with the process');
});

test.serial('without CAP_NET_ADMIN open fails with EPERM and says what is needed', (t) => {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (setpriv === undefined) return t.fail('setpriv (util-linux) is needed to drop capabilities');
  const code = `
    const { TunDevice } = require('./src/link/tun-device');
    try {
      TunDevice.open({ name: ${JSON.stringify(uniqueName())} });
      console.log(JSON.stringify({ opened: true }));
    } catch (e) {
      console.log(JSON.stringify({ code: e.code, syscall: e.syscall, message: e.message }));
    }
  `;
  // Root, but with every capability gone from the bounding and inheritable sets.
  const r = runChild(code, [setpriv, '--inh-caps=-all', '--bounding-set=-all', '--']);
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { code?: string; syscall?: string; message?: string; opened?: boolean };
  t.is(out.code, 'EPERM', r.stdout);
  t.is(out.syscall, 'ioctl(TUNSETIFF)');
  t.regex(out.message!, /needs CAP_NET_ADMIN/);
  t.regex(out.message!, /--cap-add NET_ADMIN/);
});
