import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import test, { ExecutionContext } from 'ava';
import { BYTES_CHUNK, HttpSite, MAX_BYTES, escapeHtml, startHttpSite } from '../../src/apps/http-site';
import { MemoryPair, createMemoryPair } from '../../src/socket/memory-pair';
import { Socket } from '../../src/socket/socket';
import { TcpConfig } from '../../src/tcp/config';

const B = '10.0.0.2';
const PORT = 80;

async function waitUntil(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function setup(t: ExecutionContext, config?: Partial<TcpConfig>): Promise<{ pair: MemoryPair; site: HttpSite }> {
  const pair = createMemoryPair(config !== undefined ? { config } : {});
  t.teardown(() => pair.close());
  const site = startHttpSite(pair.b, PORT);
  await site.listening;
  return { pair, site };
}

async function finish(pair: MemoryPair, site: HttpSite): Promise<void> {
  await site.close();
  await waitUntil(() => pair.a.tcp.size === 0 && pair.b.tcp.size === 0, 3000, 'all connections closed');
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(pair: MemoryPair, method: string, path: string, body?: Buffer, headers: http.OutgoingHttpHeaders = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method,
        host: B,
        port: PORT,
        path,
        headers,
        createConnection: () => pair.a.connect({ host: B, port: PORT }) as unknown as Duplex,
      } as http.RequestOptions,
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function expectedBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i & 0xff;
  return b;
}

test('GET /bytes/1000000: exactly that many bytes of the documented pattern', async (t) => {
  const { pair, site } = await setup(t);
  const r = await request(pair, 'GET', '/bytes/1000000');
  t.is(r.status, 200);
  t.is(r.headers['content-length'], '1000000');
  t.is(r.headers['content-type'], 'application/octet-stream');
  t.is(r.body.length, 1_000_000);
  t.true(r.body.equals(expectedBytes(1_000_000)));
  t.is(BYTES_CHUNK.length, 64 * 1024);
  await finish(pair, site);
});

test('GET /bytes/N: 0, small, and HEAD', async (t) => {
  const { pair, site } = await setup(t);
  const zero = await request(pair, 'GET', '/bytes/0');
  t.is(zero.status, 200);
  t.is(zero.headers['content-length'], '0');
  t.is(zero.body.length, 0);
  const small = await request(pair, 'GET', '/bytes/300');
  t.true(small.body.equals(expectedBytes(300)));
  const head = await request(pair, 'HEAD', `/bytes/${MAX_BYTES}`);
  t.is(head.status, 200);
  t.is(head.headers['content-length'], String(MAX_BYTES));
  t.is(head.body.length, 0);
  await finish(pair, site);
});

test('GET /bytes/N rejects bad N with 400', async (t) => {
  const { pair, site } = await setup(t);
  for (const bad of ['abc', '-1', '1.5', '', '1e6', String(MAX_BYTES + 1), '99999999999999999999', '%20']) {
    const r = await request(pair, 'GET', `/bytes/${bad}`);
    t.is(r.status, 400, `N=${bad}`);
    t.regex(r.body.toString(), /bad byte count/);
  }
  await finish(pair, site);
});

test('GET /bytes/N streams with backpressure: a paused client bounds what the server buffers', async (t) => {
  const small = { sendBufferSize: 32 * 1024, recvBufferSize: 32 * 1024 };
  const { pair, site } = await setup(t, small);
  let serverSock: Socket | null = null;
  site.server.on('connection', (s: Socket) => (serverSock = s));
  const N = 20_000_000;
  const done = new Promise<number>((resolve, reject) => {
    const req = http.request(
      { host: B, port: PORT, path: `/bytes/${N}`, createConnection: () => pair.a.connect({ host: B, port: PORT }) as unknown as Duplex } as http.RequestOptions,
      (res) => {
        let got = 0;
        res.on('data', (d: Buffer) => (got += d.length));
        res.pause();
        // While the client is paused the server must not run ahead: what it has handed its
        // socket stays within the TCP buffers plus a few chunks of stream buffering.
        setTimeout(() => {
          const written = serverSock!.bytesWritten;
          t.true(written < 1_000_000, `server wrote ${written} bytes while the client was paused`);
          res.resume();
        }, 100);
        res.on('end', () => resolve(got));
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.is(await done, N);
  await finish(pair, site);
});

test('PUT and POST /upload: byte count and sha256 of the body', async (t) => {
  const { pair, site } = await setup(t);
  const body = randomBytes(3 * 1024 * 1024);
  const put = await request(pair, 'PUT', '/upload', body, { 'Content-Length': body.length });
  t.is(put.status, 200);
  t.is(put.headers['content-type'], 'application/json');
  t.deepEqual(JSON.parse(put.body.toString()), { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  // Chunked transfer encoding, and an empty body.
  const post = await request(pair, 'POST', '/upload', Buffer.from('abc'), { 'Transfer-Encoding': 'chunked' });
  t.deepEqual(JSON.parse(post.body.toString()), { bytes: 3, sha256: createHash('sha256').update('abc').digest('hex') });
  const empty = await request(pair, 'POST', '/upload');
  t.deepEqual(JSON.parse(empty.body.toString()), { bytes: 0, sha256: createHash('sha256').digest('hex') });
  await finish(pair, site);
});

test('GET /connections: JSON, one object per live connection, including this one', async (t) => {
  const { pair, site } = await setup(t);
  const r = await request(pair, 'GET', '/connections');
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  const list = JSON.parse(r.body.toString()) as Array<Record<string, unknown>>;
  t.true(Array.isArray(list));
  t.is(list.length, 1);
  const c = list[0]!;
  t.is(c.local, `${B}:${PORT}`);
  t.regex(String(c.remote), /^10\.0\.0\.1:\d+$/);
  t.is(c.state, 'ESTABLISHED');
  for (const k of ['cwnd', 'rto', 'retransmits', 'bytesIn', 'bytesOut']) t.is(typeof c[k], 'number', k);
  t.true(c.srtt === null || typeof c.srtt === 'number');
  t.true((c.bytesIn as number) > 0, 'the request itself was received');
  await finish(pair, site);
});

test('GET /: an HTML status page with a row per connection', async (t) => {
  const { pair, site } = await setup(t);
  const r = await request(pair, 'GET', '/');
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'text/html; charset=utf-8');
  const html = r.body.toString();
  t.regex(html, /^<!doctype html>/);
  t.regex(html, /<th>local<\/th><th>remote<\/th><th>state<\/th><th>cwnd<\/th><th>srtt \(ms\)<\/th><th>rto \(ms\)<\/th><th>retransmits<\/th><th>bytes in<\/th><th>bytes out<\/th>/);
  t.regex(html, /<tr><td>10\.0\.0\.2:80<\/td><td>10\.0\.0\.1:\d+<\/td><td>ESTABLISHED<\/td>/);
  t.regex(html, /1 live connection,/);
  await finish(pair, site);
});

test('escapeHtml escapes the five special characters', (t) => {
  t.is(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

test('404 for unknown paths, 405 with Allow for wrong methods', async (t) => {
  const { pair, site } = await setup(t);
  const nf = await request(pair, 'GET', '/nope');
  t.is(nf.status, 404);
  const up = await request(pair, 'GET', '/upload');
  t.is(up.status, 405);
  t.is(up.headers.allow, 'PUT, POST');
  const del = await request(pair, 'DELETE', '/bytes/10');
  t.is(del.status, 405);
  t.is(del.headers.allow, 'GET, HEAD');
  const post = await request(pair, 'POST', '/', Buffer.from('x'));
  t.is(post.status, 405);
  const conns = await request(pair, 'PUT', '/connections', Buffer.from('x'));
  t.is(conns.status, 405);
  await finish(pair, site);
});

test('close() ends live connections and stops listening', async (t) => {
  const { pair, site } = await setup(t);
  // An idle keep-alive connection held open by a raw client.
  const c = pair.a.connect({ host: B, port: PORT });
  c.write('GET /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\n');
  const parts: Buffer[] = [];
  c.on('data', (d: Buffer) => parts.push(d));
  const ended = new Promise((resolve) => c.once('end', resolve));
  await waitUntil(() => Buffer.concat(parts).includes('\r\n\r\n\x00\x01\x02\x03\x04'), 2000, 'response');
  t.is(site.connections, 1);
  await site.close();
  await ended;
  t.false(site.server.listening);
  c.destroy();
  await waitUntil(() => pair.a.tcp.size === 0 && pair.b.tcp.size === 0, 3000, 'all connections closed');
});
