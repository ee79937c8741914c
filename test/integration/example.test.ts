/** The README's API example is a real file: run it, and curl it from the kernel. */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { ROOT, assertInPrivateNetns, run } from '../helpers/netns';

test.before(() => assertInPrivateNetns());

test.serial("examples/http-server.js: Node's http over tuntcp, fetched by curl", async (t) => {
  const child = spawn(process.execPath, [path.join(ROOT, 'examples/http-server.js')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line: ${err}`)), 15_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const r = await run('curl', ['-sS', '-m', '10', 'http://10.77.0.2/hello']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^hello from tuntcp: GET \/hello from 10\.77\.0\.1:\d+\n$/);
  } finally {
    child.kill('SIGTERM');
  }
});
