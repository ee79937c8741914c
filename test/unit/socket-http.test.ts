/**
 * Node's own http server and client over tuntcp sockets: the server is fed with
 * `emit('connection', socket)`, the client gets its socket from `createConnection`.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import test, { ExecutionContext } from 'ava';
import { MemoryPair, createMemoryPair } from '../../src/socket/memory-pair';
import { Server } from '../../src/socket/server';
import { Socket } from '../../src/socket/socket';

const B = '10.0.0.2';

async function waitUntil(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Fixture {
  pair: MemoryPair;
  server: Server;
  httpServer: http.Server;
  port: number;
  serverSockets: Socket[];
}

async function setup(t: ExecutionContext, handler: http.RequestListener): Promise<Fixture> {
  const pair = createMemoryPair();
  t.teardown(() => pair.close());
  const httpServer = http.createServer(handler);
  const serverSockets: Socket[] = [];
  const server = pair.b.createServer({ allowHalfOpen: true }, (s) => {
    serverSockets.push(s);
    httpServer.emit('connection', s);
  });
  server.listen(8080);
  await once(server, 'listening');
  return { pair, server, httpServer, port: 8080, serverSockets };
}

async function teardown(f: Fixture): Promise<void> {
  f.server.close();
  for (const s of f.serverSockets) s.destroy();
  await once(f.server, 'close');
  await waitUntil(() => f.pair.a.tcp.size === 0 && f.pair.b.tcp.size === 0, 3000, 'all connections closed');
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: Socket;
}

function request(pair: MemoryPair, opts: http.RequestOptions, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let socket: Socket | null = null;
    const req = http.request(
      {
        host: B,
        port: 8080,
        ...opts,
        createConnection: () => {
          socket = pair.a.connect({ host: B, port: 8080 });
          return socket as unknown as Duplex;
        },
      } as http.RequestOptions,
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), socket: socket! }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('http.Server over tuntcp sockets answers http.request({ createConnection })', async (t) => {
  const f = await setup(t, (req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${req.method} ${req.url} from ${req.socket.remoteAddress}:${req.socket.remotePort}`);
  });
  const r = await request(f.pair, { path: '/hello?x=1' });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'text/plain');
  t.is(r.body.toString(), `GET /hello?x=1 from 10.0.0.1:${r.socket.localPort}`);
  // No agent: the client asked for Connection: close, and both sides closed.
  await waitUntil(() => r.socket.destroyed, 1000, 'client socket closed');
  await teardown(f);
});

test('a large streamed response and a large request body, with backpressure both ways', async (t) => {
  const payload = createHash('sha512').update('seed').digest();
  const big = Buffer.alloc(3_000_000);
  for (let i = 0; i < big.length; i += payload.length) payload.copy(big, i);
  const f = await setup(t, (req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Length': big.length });
      // Write in pieces, honouring write() === false.
      let off = 0;
      const pump = (): void => {
        while (off < big.length) {
          const ok = res.write(big.subarray(off, off + 100_000));
          off += 100_000;
          if (!ok) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      h.update(d);
    });
    req.on('end', () => res.end(JSON.stringify({ n, sha256: h.digest('hex') })));
  });
  const down = await request(f.pair, { path: '/big' });
  t.is(down.status, 200);
  t.is(down.headers['content-length'], String(big.length));
  t.true(down.body.equals(big));

  const up = await request(f.pair, { method: 'POST', path: '/up', headers: { 'Content-Length': big.length } }, big);
  t.deepEqual(JSON.parse(up.body.toString()), { n: big.length, sha256: createHash('sha256').update(big).digest('hex') });
  await teardown(f);
});

test('a keep-alive Agent reuses one tuntcp connection for several requests', async (t) => {
  const f = await setup(t, (req, res) => {
    res.end(`you asked for ${req.url}`);
  });
  class TuntcpAgent extends http.Agent {
    created = 0;
    override createConnection(): Duplex {
      this.created++;
      return f.pair.a.connect({ host: B, port: 8080 }) as unknown as Duplex;
    }
  }
  const agent = new TuntcpAgent({ keepAlive: true, keepAliveMsecs: 1000 });
  const get = (path: string): Promise<{ body: string; port: number | undefined }> =>
    new Promise((resolve, reject) => {
      http
        .get({ host: B, port: 8080, path, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ body, port: (res.socket as unknown as Socket | null)?.localPort }));
        })
        .on('error', reject);
    });
  const r1 = await get('/one');
  const r2 = await get('/two');
  const r3 = await get('/three');
  t.is(r1.body, 'you asked for /one');
  t.is(r2.body, 'you asked for /two');
  t.is(r3.body, 'you asked for /three');
  t.is(agent.created, 1);
  t.is(f.serverSockets.length, 1);
  // The agent enabled keepalive on the socket it keeps.
  const clientConn = [...f.pair.a.tcp.connections()][0]!;
  t.true(clientConn.keepAlive);
  agent.destroy();
  await teardown(f);
});

test('the server side sees a client that resets mid-request as an aborted request', async (t) => {
  let aborted = false;
  const f = await setup(t, (req) => {
    req.on('aborted', () => (aborted = true));
    req.on('error', () => undefined);
    req.resume();
    // Never answers.
  });
  const client = f.pair.a.connect({ host: B, port: 8080 });
  client.write('POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: 1000\r\n\r\npartial');
  await waitUntil(() => f.serverSockets.length === 1 && f.serverSockets[0]!.bytesRead > 0, 2000, 'request at the server');
  // (events.once would reject on the socket's 'error'; http handles that error itself.)
  const serverClosed = new Promise((resolve) => f.serverSockets[0]!.once('close', resolve));
  client.resetAndDestroy();
  await serverClosed;
  t.true(aborted);
  await teardown(f);
});
