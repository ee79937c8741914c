#!/usr/bin/env node
// npm run demo: a one-shot tour that never touches the host's network. In a throwaway
// network namespace it starts tuntcp with a pcap and tracing, pings it, curls it, prints
// the curl's ladder diagram, writes the pcap and an SVG of the diagram, and cleans up.
'use strict';
const { execFile, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'demo-output');

function fail(msg) {
  console.error(`demo: ${msg}`);
  process.exit(1);
}

if (process.env.TUNTCP_DEMO_NETNS !== '1') {
  // Re-execute inside a fresh network namespace; it disappears when we exit.
  if (process.getuid && process.getuid() !== 0) fail('needs root (it creates a network namespace and a TUN device): sudo npm run demo');
  for (const tool of ['ping', 'curl', 'unshare', 'ip']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) fail(`${tool} is missing: apt-get install iputils-ping curl iproute2 util-linux`);
  }
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'demo', process.execPath, __filename], {
    stdio: 'inherit',
    env: { ...process.env, TUNTCP_DEMO_NETNS: '1' },
  });
  process.exit(r.status ?? 1);
}

const { createStack } = require(path.join(ROOT, 'dist/index.js'));
const { renderLadderSvg } = require(path.join(ROOT, 'dist/trace/svg.js'));

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const pcap = path.join(OUT, 'demo.pcap');
  const svg = path.join(OUT, 'demo-ladder.svg');
  const lines = [];
  const stack = createStack({ dev: 'tuntcp-demo', hostAddr: '10.77.0.1/24', addr: '10.77.0.2', pcap, ladder: { onLine: (l) => lines.push(l), color: process.stdout.isTTY } });
  const { startServices } = require(path.join(ROOT, 'dist/apps/index.js'));
  const services = startServices(stack, {}, stack.ladder);
  await services.ready;
  const bold = process.stdout.isTTY ? (s) => `\x1b[1m${s}\x1b[0m` : (s) => s;
  const say = (s) => console.log(`\n${bold(s)}`);
  say(`tuntcp is up: ${stack.describe()} (inside a private network namespace)`);

  say('$ ping -c 3 10.77.0.2');
  console.log((await run('ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2'])).trim());

  say('$ curl -s http://10.77.0.2/bytes/2000 | wc -c');
  const body = await run('sh', ['-c', 'curl -s -m 10 http://10.77.0.2/bytes/2000 | wc -c']);
  console.log(body.trim());
  await new Promise((r) => setTimeout(r, 300)); // the teardown's last segments

  say("The curl's connection, as tuntcp saw it (seq/ack relative to each side's ISN):");
  for (const l of lines) console.log(l);
  const ladders = stack.ladder.recent();
  const last = ladders[ladders.length - 1];
  if (last) fs.writeFileSync(svg, renderLadderSvg(last));

  await Promise.race([services.close(), new Promise((r) => setTimeout(r, 2000))]);
  stack.close();
  say('Written:');
  console.log(`  ${path.relative(process.cwd(), pcap)}   every packet in and out (open it with Wireshark, or: tshark -r ${path.relative(process.cwd(), pcap)})`);
  if (last) console.log(`  ${path.relative(process.cwd(), svg)}   the ladder diagram as SVG`);
  console.log('The namespace and the device are gone.');
}

// Run a command without blocking our event loop: the stack answering it runs there.
function run(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (_e, out, err) => resolve(`${out || ''}${err || ''}`));
  });
}

main().catch((e) => fail(e.stack || e.message));
