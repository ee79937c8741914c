/**
 * The local control channel behind `tuntcp stats`: socket placement (0700 directory,
 * fallbacks, stale sockets), the newline-delimited JSON protocol, the client's errors,
 * and the ss-like table. Unix sockets in temporary directories only; no network.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fetchStats, findControlSocket, queryControl } from '../../src/control/client';
import { controlDirs, controlSocketCandidates, prepareControlSocketPath } from '../../src/control/paths';
import { ControlServer } from '../../src/control/server';
import { StatsReply, mergeStats, statsSnapshot } from '../../src/control/stats';
import { renderStatsReply, renderStatsTable } from '../../src/control/stats-table';
import { ConnEvent, Connection } from '../../src/tcp/connection';
import { Listener, ListenerOwner } from '../../src/tcp/listener';
import { TcpState } from '../../src/tcp/state';
import { ConnectionOwner } from '../../src/tcp/tcp-layer';
import { ConnectionInfo } from '../../src/trace/connection-info';
import { SimHost, Wire } from '../helpers/sim-host';

class App implements ConnectionOwner {
  onConnectionEvents(c: Connection): void {
    for (let e = c.pollEvent(); e !== 0; e = c.pollEvent()) if (e === ConnEvent.READABLE) c.read();
  }
}

class Acceptor implements ListenerOwner {
  onAcceptable(l: Listener): void {
    for (let c = l.accept(); c !== null; c = l.accept()) c.owner = new App();
  }
}

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'tuntcp-ctl-'));
}

/** A server host with two accepted connections, one of them half-closed by the client. */
function busyHost(): SimHost {
  const a = new SimHost('10.0.0.1', { secret: 1 });
  const b = new SimHost('10.0.0.2', { secret: 2 });
  const wire = new Wire(a, b);
  b.tcp.listen(80, new Acceptor());
  const c1 = a.tcp.connect(b.addr, 80, new App(), 0);
  const c2 = a.tcp.connect(b.addr, 80, new App(), 0);
  a.turn();
  wire.deliver();
  c1.send(Buffer.alloc(3000, 1));
  a.tcp.touch(c1);
  c2.shutdown(0);
  a.tcp.touch(c2);
  a.turn();
  wire.deliver();
  wire.settle(2000);
  return b;
}

test('socket paths: /run/tuntcp first, then $XDG_RUNTIME_DIR/tuntcp, then /tmp/tuntcp-UID', (t) => {
  t.deepEqual(controlSocketCandidates('tuntcp0', { env: { XDG_RUNTIME_DIR: '/run/user/1000' }, uid: 1000 }), [
    '/run/tuntcp/tuntcp0.sock',
    '/run/user/1000/tuntcp/tuntcp0.sock',
    '/tmp/tuntcp-1000/tuntcp0.sock',
  ]);
  t.deepEqual(controlDirs({ env: {}, uid: 7 }), ['/run/tuntcp', '/tmp/tuntcp-7']);
  t.deepEqual(controlDirs({ env: { XDG_RUNTIME_DIR: 'relative' }, uid: 7 }), ['/run/tuntcp', '/tmp/tuntcp-7'], 'a relative XDG_RUNTIME_DIR is ignored');
  for (const bad of ['', '../etc', 'a/b', 'x'.repeat(16), '..']) {
    t.throws(() => controlSocketCandidates(bad), { code: 'EINVAL' }, JSON.stringify(bad));
  }
});

test('the socket directory is created 0700; an unusable one falls back to the next', (t) => {
  const root = tmp();
  try {
    const run = path.join(root, 'run');
    const p = prepareControlSocketPath('tun9', { runDir: run, env: {} });
    t.is(p, path.join(run, 'tun9.sock'));
    t.is(statSync(run).mode & 0o777, 0o700);
    // An existing directory of ours with loose permissions is tightened.
    const loose = path.join(root, 'loose');
    mkdirSync(loose, { mode: 0o755 });
    prepareControlSocketPath('tun9', { runDir: loose, env: {} });
    t.is(statSync(loose).mode & 0o777, 0o700);
    // Not creatable (a file is in the way): next candidate, $XDG_RUNTIME_DIR/tuntcp.
    const blocker = path.join(root, 'file');
    writeFileSync(blocker, '');
    const xdg = path.join(root, 'xdg');
    mkdirSync(xdg);
    t.is(prepareControlSocketPath('tun9', { runDir: path.join(blocker, 'sub'), env: { XDG_RUNTIME_DIR: xdg } }), path.join(xdg, 'tuntcp', 'tun9.sock'));
    t.is(statSync(path.join(xdg, 'tuntcp')).mode & 0o777, 0o700);
    // Someone else's directory is never used.
    if (process.getuid?.() === 0) {
      const theirs = path.join(root, 'theirs');
      mkdirSync(theirs, { mode: 0o700 });
      chownSync(theirs, 4242, 4242);
      t.is(prepareControlSocketPath('tun9', { runDir: theirs, env: { XDG_RUNTIME_DIR: xdg } }), path.join(xdg, 'tuntcp', 'tun9.sock'));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('server and client: stats, ping, unknown commands, bad requests, replies in order', async (t) => {
  const root = tmp();
  const host = busyHost();
  const server = await ControlServer.start({ path: path.join(root, 'ctl.sock'), handlers: { stats: () => statsSnapshot(host.tcp, host.counters) } });
  try {
    t.is(lstatSync(server.path).mode & 0o777, 0o600);
    const stats = await fetchStats({ path: server.path });
    t.is(stats.connections.length, 2);
    t.deepEqual(stats.connections.map((c) => c.state).sort(), [TcpState.CLOSE_WAIT, TcpState.ESTABLISHED]);
    t.true(stats.connections.every((c) => c.local === '10.0.0.2:80' && c.remote.startsWith('10.0.0.1:')));
    t.is(stats.connections.find((c) => c.state === TcpState.ESTABLISHED)!.bytesIn, 3000);
    t.is(stats.counters.tcpPassiveOpens, 2);
    t.is(stats.counters.drops.tcp_no_socket, 0);
    t.is(stats.timeWait, 0);
    t.deepEqual(await queryControl({ path: server.path }, { cmd: 'ping' }), { ok: true, pid: process.pid });
    await t.throwsAsync(queryControl({ path: server.path }, { cmd: 'reboot' }), { code: 'ERR_CONTROL_REPLY', message: /unknown command "reboot"/ });

    // Raw protocol: several requests in one write (one of them not JSON), answered in order.
    const replies = await new Promise<unknown[]>((resolve, reject) => {
      const s = net.connect(server.path);
      let buf = '';
      s.setEncoding('utf8');
      s.on('connect', () => s.write('{"cmd":"ping"}\nnot json\n\n{"nocmd":1}\n{"cmd":"stats"}\n'));
      s.on('data', (d: string) => {
        buf += d;
        const lines = buf.split('\n').filter((l) => l !== '');
        if (buf.endsWith('\n') && lines.length === 4) {
          s.end();
          resolve(lines.map((l) => JSON.parse(l)));
        }
      });
      s.on('error', reject);
    });
    t.like(replies[0], { ok: true });
    t.like(replies[1], { error: 'bad request: not JSON' });
    t.like(replies[2], { error: 'bad request: expected {"cmd": "..."}' });
    t.is((replies[3] as StatsReply).connections.length, 2);
  } finally {
    await server.close();
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  t.false(existsSync(server.path), 'the socket file is removed on close');
});

test('server by device name: found by the client in the same place; a handler error is a reply, not a crash', async (t) => {
  const root = tmp();
  const opts = { runDir: path.join(root, 'run'), env: {} };
  const server = await ControlServer.start({
    dev: 'tt0',
    ...opts,
    handlers: {
      stats: () => ({ connections: [], counters: {}, timeWait: 0 }),
      boom: () => {
        throw new Error('handler failed');
      },
    },
  });
  try {
    t.is(server.path, path.join(root, 'run', 'tt0.sock'));
    t.is(findControlSocket({ dev: 'tt0', ...opts }), server.path);
    t.deepEqual((await fetchStats({ dev: 'tt0', ...opts })).connections, []);
    await t.throwsAsync(queryControl({ dev: 'tt0', ...opts }, { cmd: 'boom' }), { code: 'ERR_CONTROL_REPLY', message: 'tuntcp: handler failed' });
    t.deepEqual(await queryControl({ dev: 'tt0', ...opts }, { cmd: 'ping' }), { ok: true, pid: process.pid });
    // A second instance on the same device is refused.
    await t.throwsAsync(ControlServer.start({ dev: 'tt0', ...opts, handlers: {} }), { code: 'EADDRINUSE' });
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a stale socket left by a crash is replaced; a regular file is not touched', async (t) => {
  const root = tmp();
  try {
    const p = path.join(root, 'stale.sock');
    // A process that dies with SIGKILL while listening leaves its socket file behind.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(p)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    t.true(lstatSync(p).isSocket());
    await t.throwsAsync(queryControl({ path: p }, { cmd: 'ping' }), { code: 'ECONNREFUSED' });
    const server = await ControlServer.start({ path: p, handlers: {} });
    t.deepEqual(await queryControl({ path: p }, { cmd: 'ping' }), { ok: true, pid: process.pid });
    await server.close();
    const file = path.join(root, 'file.sock');
    writeFileSync(file, 'precious');
    await t.throwsAsync(ControlServer.start({ path: file, handlers: {} }), { code: 'EEXIST' });
    t.true(lstatSync(file).isFile());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('client errors: nothing running, a server that never answers', async (t) => {
  const root = tmp();
  try {
    const opts = { dev: 'nothing0', runDir: path.join(root, 'run'), env: {}, uid: 987654 };
    const err = t.throws(() => findControlSocket(opts), { code: 'ENOENT' });
    t.regex(err!.message, /no tuntcp instance on nothing0: no control socket at .*nothing0\.sock/);
    await t.throwsAsync(fetchStats(opts), { code: 'ENOENT' });
    const p = path.join(root, 'mute.sock');
    const mute = net.createServer((s) => s.resume()); // reads, never answers
    await new Promise<void>((r) => mute.listen(p, r));
    await t.throwsAsync(queryControl({ path: p, timeoutMs: 100 }, { cmd: 'stats' }), { code: 'ETIMEDOUT' });
    await new Promise<void>((r) => mute.close(() => r()));
    const liar = net.createServer((s) => s.resume().end('this is not json\n'));
    await new Promise<void>((r) => liar.listen(p, r));
    await t.throwsAsync(queryControl({ path: p }, { cmd: 'stats' }), { code: 'EPROTO' });
    await new Promise<void>((r) => liar.close(() => r()));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const sample: ConnectionInfo = {
  local: '10.77.0.2:80',
  remote: '10.77.0.1:45678',
  localAddr: '10.77.0.2',
  localPort: 80,
  remoteAddr: '10.77.0.1',
  remotePort: 45678,
  state: TcpState.ESTABLISHED,
  passive: true,
  cc: 'newreno',
  cwnd: 14600,
  ssthresh: null,
  srtt: 0.4125,
  rttvar: 0.2,
  rto: 201,
  retransmits: 2,
  fastRetransmits: 1,
  timeouts: 1,
  dupAcks: 3,
  sackBlocksIn: 2,
  sackBlocksOut: 0,
  outOfOrderBytes: 0,
  rackLost: 0,
  tlpProbes: 0,
  bytesIn: 78,
  bytesOut: 1234567,
  segmentsIn: 10,
  segmentsOut: 900,
  sndWnd: 64240,
  rcvWnd: 262144,
  mss: 1460,
  sendQueued: 0,
  recvQueued: 0,
};

test('renderStatsTable: an ss -ti-like table, or JSON', (t) => {
  const rows = [sample, { ...sample, state: TcpState.SYN_RECEIVED, remote: '10.77.0.1:5', srtt: null, cwnd: 2920, retransmits: 0, bytesIn: 0, bytesOut: 0 }];
  const text = renderStatsTable(rows);
  const lines = text.trimEnd().split('\n');
  t.is(lines.length, 3);
  t.regex(lines[0]!, /^State +Local +Peer +cwnd +srtt\(ms\) +rto\(ms\) +retrans +bytes in +bytes out$/);
  t.regex(lines[1]!, /^ESTABLISHED +10\.77\.0\.2:80 +10\.77\.0\.1:45678 +14600 +0\.413 +201 +2 +78 +1234567$/);
  t.regex(lines[2]!, /^SYN-RECEIVED +10\.77\.0\.2:80 +10\.77\.0\.1:5 +2920 +- +201 +0 +0 +0$/);
  // Columns line up: every right-aligned number ends where its title ends.
  const end = (line: string, s: string): number => line.indexOf(s) + s.length;
  t.is(end(lines[1]!, '1234567'), lines[0]!.length);
  t.is(end(lines[1]!, '14600'), end(lines[0]!, 'cwnd'));
  t.deepEqual(JSON.parse(renderStatsTable(rows, { json: true })), rows);
  t.is(renderStatsTable([]), 'State  Local  Peer  cwnd  srtt(ms)  rto(ms)  retrans  bytes in  bytes out\n(no connections)\n');
});

test('renderStatsReply: the table and a counters summary from a real host', (t) => {
  const host = busyHost();
  const reply = statsSnapshot(host.tcp, host.counters);
  const text = renderStatsReply(reply);
  t.regex(text, /^State /);
  t.regex(text, /ESTABLISHED +10\.0\.0\.2:80 +10\.0\.0\.1:\d+/);
  t.regex(text, /CLOSE-WAIT +10\.0\.0\.2:80/);
  t.regex(text, /packets in\/out: ip \d+\/\d+, tcp \d+\/\d+, icmp 0\/0; drops 0; retransmitted 0; opened active 0, passive 2; closed 0; TIME-WAIT 0\n$/);
  t.deepEqual(JSON.parse(renderStatsReply(reply, { json: true })), JSON.parse(JSON.stringify(reply)));
});

test('--workers: mergeStats lists every worker\'s connections, sums the counters, and keeps each share', (t) => {
  const one = statsSnapshot(busyHost().tcp, busyHost().counters);
  const w0 = busyHost();
  const w1 = busyHost();
  const r0 = statsSnapshot(w0.tcp, w0.counters);
  const r1 = statsSnapshot(w1.tcp, w1.counters);
  const merged = mergeStats([r0, r1]);
  t.is(merged.connections.length, r0.connections.length + r1.connections.length);
  t.is(merged.counters.tcpIn, r0.counters.tcpIn + r1.counters.tcpIn);
  t.is(merged.counters.tcpPassiveOpens, 4);
  t.is(merged.counters.drops.tcp_no_socket, r0.counters.drops.tcp_no_socket + r1.counters.drops.tcp_no_socket);
  t.is(merged.timeWait, r0.timeWait + r1.timeWait);
  t.deepEqual(merged.workers!.map((w) => [w.worker, w.connections, w.passiveOpens]), [
    [0, r0.connections.length, 2],
    [1, r1.connections.length, 2],
  ]);
  // The inputs are left alone, and one worker's reply merges to itself plus its share.
  t.is(r0.counters.tcpPassiveOpens, 2);
  t.deepEqual({ ...mergeStats([one]), workers: undefined }, { ...one, workers: undefined });
  t.regex(renderStatsReply(merged), /workers: #0 \d+ live, 2 opened, \d+ packets in; #1 /);
});
