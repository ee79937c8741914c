import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import test, { ExecutionContext } from 'ava';
import { CHARGEN_LINE_CHARS, chargenLines, startChargen } from '../../src/apps/chargen';
import { startDiscard } from '../../src/apps/discard';
import { startEcho } from '../../src/apps/echo';
import { DEFAULT_SERVICE_PORTS, startServices } from '../../src/apps/index';
import { MemoryPair, createMemoryPair } from '../../src/socket/memory-pair';
import { Socket } from '../../src/socket/socket';

const B = '10.0.0.2';

async function waitUntil(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

function setup(t: ExecutionContext): MemoryPair {
  const pair = createMemoryPair();
  t.teardown(() => pair.close());
  return pair;
}

async function allClosed(pair: MemoryPair): Promise<void> {
  await waitUntil(() => pair.a.tcp.size === 0 && pair.b.tcp.size === 0, 3000, 'all connections closed');
}

function readAll(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('echo (RFC 862) sends back everything, then ends after our FIN', async (t) => {
  const pair = setup(t);
  const echo = startEcho(pair.b, 7);
  await echo.listening;
  t.is(echo.port, 7);
  const c = pair.a.connect({ host: B, port: 7 });
  const data = randomBytes(500_000);
  const back = readAll(c);
  // Write in pieces with backpressure, then half close: the echo of the tail still comes.
  for (let off = 0; off < data.length; off += 50_000) {
    if (!c.write(data.subarray(off, off + 50_000))) await once(c, 'drain');
  }
  c.end();
  const got = await back;
  t.is(got.length, data.length);
  t.is(sha(got), sha(data));
  await new Promise((r) => c.once('close', r));
  await echo.close();
  await allClosed(pair);
});

test('echo keeps echoing for a client that reads slowly (backpressure through pipe)', async (t) => {
  const pair = setup(t);
  const echo = startEcho(pair.b, 7);
  await echo.listening;
  const c = pair.a.connect({ host: B, port: 7, allowHalfOpen: true });
  const data = randomBytes(2_000_000);
  const parts: Buffer[] = [];
  c.on('data', (d: Buffer) => {
    parts.push(d);
    // Stall now and then.
    if (parts.length % 10 === 0) {
      c.pause();
      setTimeout(() => c.resume(), 5);
    }
  });
  const ended = new Promise((r) => c.once('end', r));
  for (let off = 0; off < data.length; off += 64 * 1024) {
    if (!c.write(data.subarray(off, off + 64 * 1024))) await once(c, 'drain');
  }
  c.end();
  await ended;
  t.true(Buffer.concat(parts).equals(data));
  await echo.close();
  await allClosed(pair);
});

test('discard (RFC 863) swallows everything and answers nothing', async (t) => {
  const pair = setup(t);
  const discard = startDiscard(pair.b, 9);
  await discard.listening;
  let serverSock: Socket | null = null;
  discard.server.on('connection', (s: Socket) => (serverSock = s));
  const c = pair.a.connect({ host: B, port: 9 });
  const back = readAll(c);
  const data = randomBytes(1_000_000);
  c.end(data);
  const got = await back;
  t.is(got.length, 0);
  t.is(serverSock!.bytesRead, data.length);
  t.is(c.bytesWritten, data.length);
  await discard.close();
  await allClosed(pair);
});

test('chargenLines: the RFC 864 rotating pattern of 72 printable characters', (t) => {
  const lines = chargenLines(96).toString('latin1').split('\r\n');
  t.is(lines.length, 97);
  t.is(lines[96], '');
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
  const ring = printable + printable;
  for (let i = 0; i < 96; i++) {
    t.is(lines[i]!.length, CHARGEN_LINE_CHARS);
    t.is(lines[i], ring.slice(i % 95, (i % 95) + 72));
  }
  t.is(lines[1], '!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh');
  t.is(lines[95], lines[0]);
});

test('chargen (RFC 864) streams the pattern until the client closes', async (t) => {
  const pair = setup(t);
  const chargen = startChargen(pair.b, 19);
  await chargen.listening;
  const c = pair.a.connect({ host: B, port: 19 });
  const parts: Buffer[] = [];
  let total = 0;
  c.on('data', (d: Buffer) => {
    parts.push(d);
    total += d.length;
  });
  await waitUntil(() => total >= 200_000, 3000, '200 kB of chargen');
  // Our FIN: the server stops, ends its side, and we read to the end.
  const ended = new Promise((r) => c.once('end', r));
  c.end();
  await ended;
  const text = Buffer.concat(parts).toString('latin1');
  const complete = text.slice(0, text.lastIndexOf('\r\n') + 2);
  t.is(text.length % 74, 0, 'the server writes whole lines');
  const expected = chargenLines(complete.length / 74).toString('latin1');
  t.is(complete, expected);
  await new Promise((r) => c.once('close', r));
  await chargen.close();
  await allClosed(pair);
});

test('chargen: a client that destroys mid-stream ends the session', async (t) => {
  const pair = setup(t);
  const chargen = startChargen(pair.b, 19);
  await chargen.listening;
  const c = pair.a.connect({ host: B, port: 19 });
  await once(c, 'data');
  c.destroy();
  await waitUntil(() => chargen.connections === 0, 3000, 'server socket closed');
  await chargen.close();
  await allClosed(pair);
  t.pass();
});

test('startServices: defaults, port 0 turns a service off, close() stops everything', async (t) => {
  const pair = setup(t);
  t.deepEqual(DEFAULT_SERVICE_PORTS, { http: 80, echo: 7, discard: 9, chargen: 19 });
  const services = startServices(pair.b, { http: 8080, discard: 0 });
  await services.ready;
  t.deepEqual(
    services.services.map((s) => [s.name, s.port]),
    [
      ['http', 8080],
      ['echo', 7],
      ['chargen', 19],
    ],
  );
  // echo answers, discard is off (refused), chargen talks.
  const e = pair.a.connect({ host: B, port: 7 });
  const back = readAll(e);
  e.end('ping');
  t.is((await back).toString(), 'ping');
  const d = pair.a.connect({ host: B, port: 9 });
  const [err] = (await once(d, 'error').catch((x: unknown) => [x])) as [NodeJS.ErrnoException];
  t.is(err.code, 'ECONNREFUSED');
  const g = pair.a.connect({ host: B, port: 19 });
  g.on('error', () => undefined);
  await once(g, 'data');
  // close() with a chargen session still running.
  await services.close();
  for (const s of services.services) t.false(s.server.listening);
  g.destroy();
  await allClosed(pair);
});

test('startServices: a port in use rejects ready; bad ports throw', async (t) => {
  const pair = setup(t);
  const first = startEcho(pair.b, 7);
  await first.listening;
  const services = startServices(pair.b, { http: 0, discard: 0, chargen: 0 });
  const err = await t.throwsAsync(services.ready);
  t.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
  t.regex(err!.message, /^echo: /);
  await services.close();
  await first.close();
  t.throws(() => startServices(pair.b, { http: 70000 }), { code: 'ERR_SOCKET_BAD_PORT' });
  t.throws(() => startServices(pair.b, { echo: -1 }), { code: 'ERR_SOCKET_BAD_PORT' });
});
