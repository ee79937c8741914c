#!/usr/bin/env node
// Run a command inside a fresh network namespace with only loopback up, so that every
// packet an integration test sends stays inside it. Usage: node in-netns.js CMD [ARGS...]
//
// It re-executes the command under `unshare -n`; the namespace disappears when the
// command exits. Without root or /dev/net/tun the tests cannot run: under CI=true that
// is a failure, otherwise the tier is skipped with a line saying why.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node test/helpers/in-netns.js COMMAND [ARGS...]');
  process.exit(2);
}

function unavailable(why) {
  if (process.env.CI === 'true') {
    console.error(`integration tests cannot run: ${why}`);
    process.exit(1);
  }
  console.error(`skipping integration tests: ${why} (under CI=true this is a failure)`);
  process.exit(0);
}

if (process.env.TUNTCP_NETNS === '1') {
  // Already inside one (e.g. the docker test service): run directly.
  const r = spawnSync(args[0], args.slice(1), { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
if (typeof process.getuid === 'function' && process.getuid() !== 0) unavailable('they need root (CAP_NET_ADMIN and CAP_SYS_ADMIN for unshare -n)');
if (!fs.existsSync('/dev/net/tun')) unavailable('/dev/net/tun is missing (modprobe tun, or pass --device /dev/net/tun to the container)');

const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'in-netns', ...args], {
  stdio: 'inherit',
  env: { ...process.env, TUNTCP_NETNS: '1' },
});
if (r.error) unavailable(`unshare failed: ${r.error.message}`);
process.exit(r.status ?? 1);
