import { createHash } from 'node:crypto';
import { once } from 'node:events';
import test, { ExecutionContext } from 'ava';
import { MemoryPair, createMemoryPair } from '../../src/socket/memory-pair';
import { Server } from '../../src/socket/server';
import { Socket } from '../../src/socket/socket';
import { TcpState } from '../../src/tcp/state';
import { TcpConfig } from '../../src/tcp/config';
import { IsnGenerator } from '../../src/tcp/isn';

const B = '10.0.0.2';

function setup(t: ExecutionContext, config?: Partial<TcpConfig>): MemoryPair {
  const pair = createMemoryPair(config !== undefined ? { config } : {});
  t.teardown(() => pair.close());
  return pair;
}

/** Poll (on the event loop, real time) until `cond` holds; fail after `ms`. */
async function waitUntil(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Both stacks have retired every connection (TIME-WAIT records are not connections). */
async function allClosed(pair: MemoryPair): Promise<void> {
  await waitUntil(() => pair.a.tcp.size === 0 && pair.b.tcp.size === 0, 3000, 'all connections closed');
}

async function listen(server: Server, port = 0): Promise<number> {
  server.listen(port);
  await once(server, 'listening');
  return server.address()!.port;
}

function collect(s: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('connect, data both ways, end from both sides, close', async (t) => {
  const pair = setup(t);
  let serverSock: Socket | null = null;
  const server = pair.b.createServer((s) => {
    serverSock = s;
    s.setEncoding('utf8');
    let got = '';
    s.on('data', (d: string) => (got += d));
    s.on('end', () => {
      s.end(`server got: ${got}`);
    });
  });
  const port = await listen(server, 8000);
  t.is(port, 8000);
  t.deepEqual(server.address(), { address: B, family: 'IPv4', port: 8000 });

  const client = pair.a.connect({ host: B, port });
  t.true(client.connecting);
  t.true(client.pending);
  t.is(client.readyState, 'opening');
  const events: string[] = [];
  client.on('connect', () => events.push('connect'));
  client.on('ready', () => events.push('ready'));
  await once(client, 'connect');
  t.false(client.connecting);
  t.false(client.pending);
  t.is(client.readyState, 'open');
  t.is(client.remoteAddress, B);
  t.is(client.remotePort, 8000);
  t.is(client.remoteFamily, 'IPv4');
  t.is(client.localAddress, '10.0.0.1');
  t.true(client.localPort! >= 32768 && client.localPort! <= 60999);
  t.deepEqual(client.address(), { address: '10.0.0.1', family: 'IPv4', port: client.localPort! });
  t.is(client.connection!.state, TcpState.ESTABLISHED);

  const reply = collect(client);
  client.write('hello, ');
  client.end('world');
  const closed = once(client, 'close');
  t.is((await reply).toString(), 'server got: hello, world');
  const [hadError] = (await closed) as [boolean];
  t.false(hadError);
  t.deepEqual(events, ['connect', 'ready']);
  t.is(client.bytesWritten, 12);
  t.is(client.bytesRead, 'server got: hello, world'.length);
  t.is(client.readyState, 'closed');
  t.truthy(serverSock);
  t.is(serverSock!.remoteAddress, '10.0.0.1');
  t.is(serverSock!.remotePort, client.localPort);
  await allClosed(pair);
  await new Promise<void>((r) => server.close(() => r()));
});

test('server sends first and closes; the client reads to the end', async (t) => {
  const pair = setup(t);
  const body = pattern(300_000);
  const server = pair.b.createServer((s) => {
    s.end(body);
  });
  const port = await listen(server);
  const client = pair.a.connect(port, B);
  const got = await collect(client);
  t.is(got.length, body.length);
  t.true(got.equals(body));
  await once(client, 'close');
  server.close();
  await once(server, 'close');
  await allClosed(pair);
});

test('half close: the client ends and keeps reading the server reply', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer({ allowHalfOpen: true }, (s) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => {
      // Only now (after the client's FIN) does the server answer, in several writes.
      const req = Buffer.concat(parts);
      t.is(s.connection!.state, TcpState.CLOSE_WAIT);
      t.true(s.writable);
      s.write('len=');
      setTimeout(() => {
        s.write(String(req.length));
        s.end(`;sha=${sha(req)}`);
      }, 5);
    });
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port, allowHalfOpen: true });
  const reqBody = pattern(100_000, 7);
  client.end(reqBody);
  await once(client, 'finish');
  const reply = await collect(client);
  t.is(reply.toString(), `len=100000;sha=${sha(reqBody)}`);
  await once(client, 'close');
  server.close();
  await allClosed(pair);
});

test('default allowHalfOpen=false: the server ends its side after answering the FIN', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer((s) => {
    s.on('data', (d: Buffer) => s.write(d.toString().toUpperCase()));
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  client.end('shout');
  t.is((await collect(client)).toString(), 'SHOUT');
  await once(client, 'close');
  server.close();
  await allClosed(pair);
});

test('write and end before the handshake completes: data and FIN follow the SYN', async (t) => {
  const pair = setup(t);
  // allowHalfOpen: the answer is written after 'end' (a promise continuation later).
  const server = pair.b.createServer({ allowHalfOpen: true }, (s) => {
    void collect(s).then((b) => s.end(`got ${b.toString()}`));
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  client.write('early ');
  client.end('bird');
  t.true(client.connecting);
  t.is((await collect(client)).toString(), 'got early bird');
  server.close();
  await allClosed(pair);
});

test('backpressure end to end: a paused reader closes the window, write() returns false, data arrives intact', async (t) => {
  const small = { sendBufferSize: 32 * 1024, recvBufferSize: 32 * 1024 };
  const pair = setup(t, small);
  const TOTAL = 2_000_000;
  const data = pattern(TOTAL, 3);
  let serverSock: Socket | null = null;
  const server = pair.b.createServer({ pauseOnConnect: true }, (s) => {
    serverSock = s;
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  const clientClosed = once(client, 'close');

  // A writer that respects backpressure: write until false, wait for 'drain'.
  const CHUNK = 4096;
  let off = 0;
  let refusals = 0;
  const writer = (async (): Promise<void> => {
    while (off < TOTAL) {
      const ok = client.write(data.subarray(off, off + CHUNK));
      off += CHUNK;
      if (!ok) {
        refusals++;
        await once(client, 'drain');
      }
    }
    client.end();
  })();

  // The receiver reads nothing: its buffer fills and it advertises a zero window; the
  // sender's buffer fills; the writer is stuck waiting for 'drain'.
  await waitUntil(() => serverSock !== null && serverSock.connection!.readable === small.recvBufferSize, 3000, 'receive buffer full');
  await waitUntil(() => client.connection!.sendQueued === small.sendBufferSize, 3000, 'send buffer full');
  const stuckAt = off;
  await new Promise((r) => setTimeout(r, 50));
  t.is(off, stuckAt, 'the writer made no progress while the reader was paused');
  t.true(off < TOTAL);
  t.true(refusals >= 1);
  // What the writer has handed over is bounded by the two buffers and the high-water mark.
  t.true(off <= small.recvBufferSize + small.sendBufferSize + client.writableHighWaterMark + CHUNK);
  t.is(serverSock!.bytesRead, 0);

  // Resume: everything arrives, in order.
  const received = collect(serverSock!);
  serverSock!.resume();
  await writer;
  const got = await received;
  t.is(got.length, TOTAL);
  t.true(got.equals(data));
  await clientClosed;
  server.close();
  await allClosed(pair);
});

/** An ISN generator that always answers `value`, to put sequence numbers where a test wants them. */
class FixedIsn extends IsnGenerator {
  constructor(private readonly value: number) {
    super(Buffer.alloc(16, 1));
  }
  override isn(): number {
    return this.value;
  }
}

async function zeroWindowScenario(t: ExecutionContext, isn: number): Promise<void> {
  const small = { sendBufferSize: 32 * 1024, recvBufferSize: 32 * 1024 };
  const pair = createMemoryPair({ config: small, tcpA: { isn: new FixedIsn(isn) }, tcpB: { isn: new FixedIsn(isn) } });
  t.teardown(() => pair.close());
  let serverSock: Socket | null = null;
  const server = pair.b.createServer({ pauseOnConnect: true }, (s) => {
    serverSock = s;
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  const clientClosed = once(client, 'close');
  const data = pattern(200_000, 9);
  let off = 0;
  const writer = (async (): Promise<void> => {
    while (off < data.length) {
      const ok = client.write(data.subarray(off, off + 4096));
      off += 4096;
      if (!ok) await once(client, 'drain');
    }
    client.end();
  })();
  await waitUntil(() => serverSock !== null && serverSock.connection!.readable === small.recvBufferSize, 3000, 'receive buffer full');
  await waitUntil(() => client.connection!.sndWnd === 0, 500, 'zero window at the sender').catch(() => undefined);
  // The receiver's buffer is full: the window it offers, and the sender's view of it, are 0.
  t.is(serverSock!.connection!.rcvWnd, 0);
  t.is(client.connection!.sndWnd, 0);
  const received = collect(serverSock!);
  serverSock!.resume();
  await writer;
  t.true((await received).equals(data));
  await clientClosed;
  server.close();
  await allClosed(pair);
}

test('a paused reader advertises a zero window (ISNs in the lower half of the sequence space)', async (t) => {
  await zeroWindowScenario(t, 0x4000_0000);
});

// Known core bug (reported): Connection.rcvAdvRight starts at 0 and is not set to RCV.NXT
// when the peer's ISN is learned, so with an IRS in the upper half of the sequence space
// the "never move the right edge left" rule treats 0 as an advertised edge and offers a
// window larger than the receive buffer (65535 on the SYN,ACK for a 32 KiB buffer); the
// window never closes. Remove `.failing` once src/tcp/connection.ts is fixed.
test('a paused reader advertises a zero window (ISNs in the upper half of the sequence space)', async (t) => {
  await zeroWindowScenario(t, 0xc000_0000);
});

test('ECONNREFUSED when nothing listens', async (t) => {
  const pair = setup(t);
  const client = pair.a.connect({ host: B, port: 9999 });
  const [err] = (await once(client, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException & { address: string; port: number }];
  t.is(err.code, 'ECONNREFUSED');
  t.is(err.syscall, 'connect');
  t.is(err.errno, -111);
  t.is(err.message, `connect ECONNREFUSED ${B}:9999`);
  t.is(err.address, B);
  t.is(err.port, 9999);
  const [hadError] = (await once(client, 'close')) as [boolean];
  t.true(hadError);
  t.true(client.destroyed);
  t.false(client.connecting);
  await allClosed(pair);
});

test('ETIMEDOUT when the SYN goes nowhere', async (t) => {
  const pair = setup(t, { connectTimeout: 150 });
  // 10.0.0.3 is not on the wire: stack B drops the SYNs (not for its address).
  const client = pair.a.connect({ host: '10.0.0.3', port: 80 });
  const [err] = (await once(client, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  t.is(err.code, 'ETIMEDOUT');
  t.is(err.syscall, 'connect');
  t.is(err.message, 'connect ETIMEDOUT 10.0.0.3:80');
  await once(client, 'close');
  await allClosed(pair);
});

test('ECONNRESET when the peer destroys with unread data', async (t) => {
  const pair = setup(t);
  let serverSock: Socket | null = null;
  const server = pair.b.createServer({ pauseOnConnect: true }, (s) => {
    serverSock = s;
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  client.write('never read');
  await waitUntil(() => serverSock !== null && serverSock.connection!.readable === 10, 3000, 'data at the server');
  const serverClosed = once(serverSock!, 'close');
  serverSock!.destroy();
  const [err] = (await once(client, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  t.is(err.code, 'ECONNRESET');
  t.is(err.syscall, 'read');
  t.is(err.errno, -104);
  t.is(err.message, 'read ECONNRESET');
  const [hadError] = (await once(client, 'close')) as [boolean];
  t.true(hadError);
  const [serverHadError] = (await serverClosed) as [boolean];
  t.false(serverHadError);
  server.close();
  await allClosed(pair);
});

test('resetAndDestroy() sends RST; the peer sees ECONNRESET', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer();
  const port = await listen(server);
  const accepted = once(server, 'connection');
  const client = pair.a.connect({ host: B, port });
  const [[s]] = (await Promise.all([accepted, once(client, 'connect')])) as [[Socket], unknown];
  const serverErr = once(s, 'error').catch((e: unknown) => [e]);
  const clientClosed = once(client, 'close');
  t.is(client.resetAndDestroy(), client);
  const [err] = (await serverErr) as [NodeJS.ErrnoException];
  t.is(err.code, 'ECONNRESET');
  const [hadError] = (await clientClosed) as [boolean];
  t.false(hadError);
  server.close();
  await allClosed(pair);
});

test('write after the peer ended us (allowHalfOpen false) fails with EPIPE', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer((s) => s.end('bye'));
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  await collect(client);
  // 'end' made the socket end its side too (next tick); writing now is writing after FIN.
  await new Promise((r) => setImmediate(r));
  t.true(client.writableEnded);
  const err = await new Promise<Error | null | undefined>((resolve) => client.write('late', (e) => resolve(e)));
  t.is((err as NodeJS.ErrnoException).code, 'EPIPE');
  t.is(err!.message, 'This socket has been ended by the other party');
  t.true(client.destroyed);
  server.close();
  await allClosed(pair);
});

test('destroy() while connecting: no SYN leaves, no error, close(false)', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer(() => t.fail('no connection expected'));
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  client.on('error', () => t.fail('no error expected'));
  client.destroy();
  const [hadError] = (await once(client, 'close')) as [boolean];
  t.false(hadError);
  await new Promise((r) => setTimeout(r, 20));
  t.is(pair.carried.ab, 0);
  server.close();
  await allClosed(pair);
});

test('setTimeout emits timeout after idleness; activity restarts it; 0 clears it', async (t) => {
  const pair = setup(t);
  let timeouts = 0;
  const server = pair.b.createServer((s) => {
    s.setTimeout(200, () => {
      timeouts++;
      s.destroy();
    });
    s.on('data', () => undefined);
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  await once(client, 'connect');
  const started = Date.now();
  // Keep the connection busy for a while: the timeout must not fire.
  for (let i = 0; i < 5; i++) {
    client.write('x');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.is(timeouts, 0);
  // Then idle: the server times out and closes; we see the end.
  client.resume();
  await once(client, 'end');
  t.is(timeouts, 1);
  t.true(Date.now() - started >= 200);
  client.end();
  await once(client, 'close');

  // setTimeout(0) disables it and removes the callback.
  const c2 = pair.a.connect({ host: B, port });
  const cb = (): void => t.fail('cleared timeout fired');
  t.is(c2.setTimeout(20, cb), c2);
  t.is(c2.timeout, 20);
  c2.setTimeout(0, cb);
  t.is(c2.timeout, undefined);
  t.is(c2.listenerCount('timeout'), 0);
  await once(c2, 'connect');
  c2.destroy();
  await once(c2, 'close');
  server.close();
  await allClosed(pair);
});

test('setNoDelay, setKeepAlive, ref, unref reach the connection and return the socket', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 5000 }, (s) => {
    t.true(s.connection!.noDelay);
    t.true(s.connection!.keepAlive);
    t.is(s.connection!.keepaliveIdle, 5000);
    s.end();
  });
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  t.is(client.setNoDelay(), client);
  t.true(client.connection!.noDelay);
  t.is(client.setNoDelay(false), client);
  t.false(client.connection!.noDelay);
  t.is(client.setKeepAlive(true, 1234), client);
  t.true(client.connection!.keepAlive);
  t.is(client.connection!.keepaliveIdle, 1234);
  t.is(client.ref(), client);
  t.is(client.unref(), client);
  client.resume();
  await once(client, 'close');
  server.close();
  await allClosed(pair);
});

test('bad connect arguments throw Node-style errors', (t) => {
  const pair = setup(t);
  const host = t.throws(() => pair.a.connect({ host: 'localhost', port: 80 }), { instanceOf: TypeError }) as NodeJS.ErrnoException;
  t.is(host.code, 'ERR_INVALID_ARG_VALUE');
  t.regex(host.message, /dotted-quad/);
  t.throws(() => pair.a.connect({ host: '10.0.0.256', port: 80 }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => pair.a.connect({ host: 1 as unknown as string, port: 80 }), { code: 'ERR_INVALID_ARG_VALUE' });
  const port = t.throws(() => pair.a.connect({ host: B, port: 70000 }), { instanceOf: RangeError }) as NodeJS.ErrnoException;
  t.is(port.code, 'ERR_SOCKET_BAD_PORT');
  t.throws(() => pair.a.connect({ host: B, port: 0 }), { code: 'ERR_SOCKET_BAD_PORT' });
  t.throws(() => pair.a.connect({ host: B, port: 'http' }), { code: 'ERR_SOCKET_BAD_PORT' });
  t.throws(() => pair.a.connect(null as unknown as number, B), { code: 'ERR_INVALID_ARG_TYPE' });
  t.is(pair.a.tcp.size, 0);
});

test('server: EADDRINUSE, ephemeral port, getConnections, close waits for connections', async (t) => {
  const pair = setup(t);
  const s1 = pair.b.createServer((s) => s.resume());
  await listen(s1, 5000);
  t.true(s1.listening);
  const s2 = pair.b.createServer();
  s2.listen(5000);
  const [err] = (await once(s2, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  t.is(err.code, 'EADDRINUSE');
  t.is(err.errno, -98);
  t.is(err.syscall, 'listen');
  t.is(err.message, `listen EADDRINUSE: address already in use ${B}:5000`);
  t.false(s2.listening);
  t.throws(() => s1.listen(5001), { code: 'ERR_SERVER_ALREADY_LISTEN' });

  const s3 = pair.b.createServer();
  const p3 = await listen(s3, 0);
  t.true(p3 >= 32768 && p3 <= 60999);
  s3.close();
  await once(s3, 'close');

  const c1 = pair.a.connect({ host: B, port: 5000 });
  const c2 = pair.a.connect({ host: B, port: 5000 });
  await Promise.all([once(c1, 'connect'), once(c2, 'connect')]);
  await waitUntil(() => s1.connections === 2, 1000, 'two accepted');
  const count = await new Promise<number>((resolve) => s1.getConnections((_e, n) => resolve(n)));
  t.is(count, 2);

  let closed = false;
  s1.close(() => (closed = true));
  t.false(s1.listening);
  t.is(s1.address(), null);
  // New connections are refused now...
  const c3 = pair.a.connect({ host: B, port: 5000 });
  const [e3] = (await once(c3, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
  t.is(e3.code, 'ECONNREFUSED');
  // ...but 'close' waits for the two established ones.
  await new Promise((r) => setTimeout(r, 20));
  t.false(closed);
  c1.end();
  await once(c1, 'close');
  t.false(closed);
  c2.end();
  await once(s1, 'close');
  t.true(closed);

  // close() on a server that is not listening reports ERR_SERVER_NOT_RUNNING.
  const e4 = await new Promise<Error | undefined>((resolve) => s2.close(resolve));
  t.is((e4 as NodeJS.ErrnoException).code, 'ERR_SERVER_NOT_RUNNING');
  await allClosed(pair);
});

test('maxConnections: extra connections are closed at once', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer((s) => s.resume());
  server.maxConnections = 1;
  const port = await listen(server);
  const c1 = pair.a.connect({ host: B, port });
  await once(c1, 'connect');
  await waitUntil(() => server.connections === 1);
  const dropped = once(server, 'drop');
  const c2 = pair.a.connect({ host: B, port });
  c2.resume();
  await dropped;
  await once(c2, 'end');
  t.is(server.connections, 1);
  c2.destroy();
  c1.destroy();
  server.close();
  await once(server, 'close');
  await allClosed(pair);
});

test('stack close destroys open sockets', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer((s) => s.resume());
  const port = await listen(server);
  const client = pair.a.connect({ host: B, port });
  await once(client, 'connect');
  client.resume();
  const closed = once(client, 'close');
  pair.a.stack.close();
  await closed;
  t.true(client.destroyed);
  t.is(pair.a.tcp.size, 0);
});

test('an unconnected socket connects with socket.connect()', async (t) => {
  const pair = setup(t);
  const server = pair.b.createServer((s) => s.end('hi'));
  const port = await listen(server);
  const s = pair.a.socket();
  t.true(s.pending);
  t.deepEqual(s.address(), {});
  t.is(s.remoteAddress, undefined);
  let connected = false;
  t.is(
    s.connect(port, B, () => (connected = true)),
    s,
  );
  t.is((await collect(s)).toString(), 'hi');
  t.true(connected);
  t.throws(() => s.connect(port, B), { code: 'ERR_SOCKET_CONNECTION_IN_PROGRESS' });
  server.close();
  await allClosed(pair);
});
