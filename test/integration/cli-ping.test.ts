/**
 * `tuntcp up` end to end: the kernel pings the stack through a real TUN device, inside
 * the private network namespace of `npm run test:integration`.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CLI, ROOT, assertInPrivateNetns, pingReceived, run, startCli } from '../helpers/netns';

test.before(() => assertInPrivateNetns());

test.serial('tuntcp up answers ping, including a 4000-byte ping the kernel fragments, and exits 0 on SIGTERM', async (t) => {
  const cli = await startCli(['up']);
  try {
    t.regex(cli.stdout(), /ready/);
    const small = await run('ping', ['-c', '5', '-i', '0.2', '-W', '2', '10.77.0.2']);
    t.is(pingReceived(small.stdout), 5, small.stdout + small.stderr);
    const big = await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', '-s', '4000', '10.77.0.2']);
    t.is(pingReceived(big.stdout), 2, big.stdout + big.stderr);
  } finally {
    t.is(await cli.stop('SIGTERM'), 0);
  }
  const gone = await run('ip', ['link', 'show', 'tuntcp0']);
  t.not(gone.code, 0, 'the device is released');
});

test.serial('SIGINT also releases the device and exits 0; custom device, addresses and MTU', async (t) => {
  const cli = await startCli(['up', '--dev', 'tt-custom', '--host-addr', '10.99.3.1/24', '--addr', '10.99.3.7', '--mtu', '1280']);
  try {
    const link = await run('ip', ['-j', 'addr', 'show', 'dev', 'tt-custom']);
    const info = JSON.parse(link.stdout) as { mtu: number; addr_info: { family: string; local: string; prefixlen: number }[] }[];
    t.is(info[0]!.mtu, 1280);
    t.deepEqual(info[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.99.3.1/24']);
    const p = await run('ping', ['-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', '10.99.3.7']);
    t.is(pingReceived(p.stdout), 2, p.stdout);
  } finally {
    t.is(await cli.stop('SIGINT'), 0);
  }
});

test.serial('errors are one line naming the fix, with a non-zero exit', async (t) => {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (setpriv === undefined) return t.fail('setpriv (util-linux) is needed to drop capabilities');
  const noCap = await run(setpriv, ['--inh-caps=-all', '--bounding-set=-all', '--', process.execPath, CLI, 'up']);
  t.not(noCap.code, 0);
  t.regex(noCap.stderr, /CAP_NET_ADMIN/);
  t.is(noCap.stderr.trim().split('\n').length, 1, noCap.stderr);

  const cases: [string[], RegExp][] = [
    [['up', '--host-addr', '10.1.2.3/40'], /--host-addr/],
    [['up', '--mtu', 'big'], /--mtu/],
    [['up', '--bogus'], /--bogus/],
    [['up', '--addr', '10.88.0.2'], /outside --host-addr/],
    [['launch'], /unknown command/],
  ];
  for (const [args, re] of cases) {
    const r = await run(process.execPath, [CLI, ...args]);
    t.not(r.code, 0, args.join(' '));
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }

  const first = await startCli(['up', '--dev', 'tt-busy']);
  try {
    const second = await run(process.execPath, [CLI, 'up', '--dev', 'tt-busy', '--host-addr', '10.66.0.1/24', '--addr', '10.66.0.2']);
    t.not(second.code, 0);
    t.regex(second.stderr, /in use/);
  } finally {
    await first.stop();
  }
});

test.serial("the README's run command: npm start builds, comes up, and answers", async (t) => {
  // Its own process group, so the test can do what Ctrl-C does in a terminal: signal the
  // whole group (npm and the node process it started).
  const child = spawn('npm', ['start'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start printed no ready line: ${out}`)), 90_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/tuntcp ready/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`npm start exited ${code}: ${out}`)));
    });
    const p = await run('ping', ['-c', '1', '-W', '2', '10.77.0.2']);
    t.is(pingReceived(p.stdout), 1);
    const c = await run('curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', 'http://10.77.0.2/']);
    t.is(c.stdout, '200');
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(-child.pid!, 'SIGINT');
    await exited;
    await new Promise((r) => setTimeout(r, 500));
  }
  const gone = await run('ip', ['link', 'show', 'tuntcp0']);
  t.not(gone.code, 0, 'the device is released');
});
