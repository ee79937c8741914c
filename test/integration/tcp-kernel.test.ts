/**
 * TCP end to end with the kernel's own TCP as the peer, through a real TUN device in the
 * private namespace of `npm run test:integration`: curl, nc and Node's `net` against
 * `tuntcp up`, and `tuntcp connect` against a kernel listener.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, CliProcess, assertInPrivateNetns, run, startCli } from '../helpers/netns';

let cli: CliProcess;

test.before(async () => {
  assertInPrivateNetns();
  cli = await startCli(['up']);
});

test.after.always(async () => {
  await cli?.stop();
});

test.serial('curl GET / returns the status page', async (t) => {
  const r = await run('curl', ['-sS', '-m', '10', 'http://10.77.0.2/']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /<html/);
  t.regex(r.stdout, /tuntcp/);
});

test.serial('curl GET /bytes/10000000 delivers exactly 10,000,000 bytes', async (t) => {
  const r = await run('sh', ['-c', 'curl -sS -m 60 http://10.77.0.2/bytes/10000000 | wc -c']);
  t.is(r.stdout.trim(), '10000000', r.stderr);
});

test.serial('a 10 MB upload to /upload returns the matching sha256', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-'));
  const file = path.join(dir, 'up.bin');
  const data = randomBytes(10_000_000);
  writeFileSync(file, data);
  const r = await run('curl', ['-sS', '-m', '60', '-T', file, 'http://10.77.0.2/upload']);
  t.is(r.code, 0, r.stderr);
  const body = JSON.parse(r.stdout) as { bytes: number; sha256: string };
  t.is(body.bytes, data.length);
  t.is(body.sha256, createHash('sha256').update(data).digest('hex'));
  const post = await run('curl', ['-sS', '-m', '60', '--data-binary', `@${file}`, 'http://10.77.0.2/upload']);
  t.is((JSON.parse(post.stdout) as { sha256: string }).sha256, body.sha256);
});

test.serial('nc to echo (7) echoes, and discard (9) swallows', async (t) => {
  const echo = await run('sh', ['-c', 'printf "hello, echo\\n" | nc -N -w 5 10.77.0.2 7']);
  t.is(echo.stdout, 'hello, echo\n', echo.stderr);
  const discard = await run('sh', ['-c', 'head -c 1000000 /dev/zero | nc -N -w 5 10.77.0.2 9; echo rc=$?']);
  t.is(discard.stdout.trim(), 'rc=0');
});

test.serial('chargen (19) streams RFC 864 lines until the client closes', async (t) => {
  const text = await new Promise<string>((resolve, reject) => {
    let got = '';
    const s = net.connect({ host: '10.77.0.2', port: 19 });
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      got += d;
      if (got.length >= 7400) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
  });
  const lines = text.split('\r\n');
  t.true(lines.length >= 100);
  t.is(lines[0]!.length, 72);
  t.is(lines[1]!.slice(0, 71), lines[0]!.slice(1), 'each line starts one character later');
  t.regex(lines[0]!, /^[ -~]{72}$/);
});

test.serial('200 sequential curl requests all succeed', async (t) => {
  const r = await run('sh', ['-c', 'ok=0; for i in $(seq 1 200); do curl -sS -m 5 -o /dev/null -w "%{http_code}" http://10.77.0.2/ | grep -q 200 && ok=$((ok+1)); done; echo $ok'], { timeoutMs: 120_000 });
  t.is(r.stdout.trim(), '200', r.stderr);
});

test.serial('100 concurrent curl requests all succeed', async (t) => {
  const r = await run('sh', ['-c', 'seq 1 100 | xargs -P 100 -I{} curl -sS -m 20 -o /dev/null -w "%{http_code}\\n" http://10.77.0.2/bytes/100000 | grep -c 200'], { timeoutMs: 60_000 });
  t.is(r.stdout.trim(), '100', r.stderr);
});

test.serial("Node's own net client: echo round trips, half-close, and backpressure both ways", async (t) => {
  const payload = randomBytes(4_000_000);
  const got = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: '10.77.0.2', port: 7 }, () => {
      s.end(payload); // half-close: we keep reading the echo after our FIN
    });
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      // A slow reader: pause now and then so the stack's send buffer and our window fill.
      if (chunks.length % 50 === 0) {
        s.pause();
        setTimeout(() => s.resume(), 20);
      }
    });
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.setTimeout(30_000, () => reject(new Error('timeout')));
  });
  t.true(got.equals(payload));
});

test.serial('a connection to a closed port is refused (RST)', async (t) => {
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const s = net.connect({ host: '10.77.0.2', port: 4444 });
    s.on('error', resolve);
  });
  t.is(err.code, 'ECONNREFUSED');
});

test.serial('GET /connections is JSON with the 4-tuple, state and counters', async (t) => {
  const r = await run('curl', ['-sS', '-m', '10', 'http://10.77.0.2/connections']);
  const list = JSON.parse(r.stdout) as { local: string; remote: string; state: string; cwnd: number; srtt: number; rto: number; retransmits: number; bytesIn: number; bytesOut: number }[];
  t.true(list.length >= 1);
  const me = list.find((c) => c.local === '10.77.0.2:80' && c.state === 'ESTABLISHED');
  t.truthy(me);
  for (const k of ['cwnd', 'srtt', 'rto', 'retransmits', 'bytesIn', 'bytesOut'] as const) t.is(typeof me![k], 'number');
});

test.serial('tuntcp connect and a kernel nc -l exchange data both ways and both close cleanly', async (t) => {
  const nc = spawn('sh', ['-c', '(printf "from-kernel\\n"; sleep 1) | exec nc -N -l 9000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let ncOut = '';
    nc.stdout!.on('data', (d: Buffer) => (ncOut += d.toString()));
    const ncExit = new Promise<number | null>((resolve) => nc.on('exit', (c) => resolve(c)));
    await new Promise((r) => setTimeout(r, 300));
    // Its own device and subnet, beside the `tuntcp up` of this file.
    const r = await run('sh', ['-c', `(printf "from-stack\\n"; sleep 0.5) | ${process.execPath} ${CLI} connect 10.78.0.1 9000 --dev tt-conn --host-addr 10.78.0.1/24 --addr 10.78.0.2`], { timeoutMs: 20_000 });
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, 'from-kernel\n');
    t.is(await ncExit, 0);
    t.is(ncOut, 'from-stack\n');
  } finally {
    nc.kill();
  }
});
