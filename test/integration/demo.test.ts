/** npm run demo: prints the labelled ladder of its curl and leaves no namespace or device behind. */
import test from 'ava';
import * as path from 'node:path';
import { ROOT, assertInPrivateNetns, run } from '../helpers/netns';

test.before(() => assertInPrivateNetns());

test.serial('the demo prints the handshake and the teardown, and cleans up', async (t) => {
  const before = await run('ip', ['-o', 'link']);
  const r = await run(process.execPath, [path.join(ROOT, 'scripts/demo.js')], { timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  for (const label of ['handshake 1/3', 'handshake 2/3', 'handshake 3/3']) t.true(r.stdout.includes(label), label);
  t.regex(r.stdout, /teardown (3\/3|4\/4)/);
  t.regex(r.stdout, /3 received/);
  t.regex(r.stdout, /demo-ladder\.svg/);
  const after = await run('ip', ['-o', 'link']);
  t.is(after.stdout, before.stdout, 'no device left behind');
  t.false(after.stdout.includes('tuntcp-demo'));
});
