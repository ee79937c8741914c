/**
 * The client side of each measurement, run from the bench's namespace against one
 * server address: curl for bulk HTTP, wrk for request rates, and small Node clients
 * (Node's `net`, i.e. the kernel's TCP) for discard, echo latency and idle connections.
 * Every one is bounded in time; none retries forever.
 */
import * as net from 'node:net';
import { run } from './children';

const MB = 1e6;

export interface Transfer {
  bytes: number;
  seconds: number;
  MBps: number;
}

function transfer(bytes: number, seconds: number): Transfer {
  return { bytes, seconds, MBps: bytes / seconds / MB };
}

/** Time limit for a transfer expected to take `expectS`: generous, but bounded. */
function limitS(expectS: number): number {
  return Math.ceil(Math.max(20, expectS * 4));
}

/** curl GET /bytes/N into /dev/null. */
export async function curlDownload(addr: string, n: number, expectS: number): Promise<Transfer> {
  const max = limitS(expectS);
  const r = await run('curl', ['-sS', '--max-time', String(max), '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', `http://${addr}/bytes/${n}`], { timeoutMs: (max + 5) * 1000 });
  const [code, size, total] = r.stdout.trim().split(' ');
  if (code !== '200' || Number(size) !== n) throw new Error(`GET /bytes/${n} from ${addr}: status ${code}, ${size} bytes`);
  return transfer(n, Number(total));
}

/**
 * curl PUT /upload of a file of `n` bytes (sparse: reading it costs the client almost
 * nothing). `Expect:` is cleared so no 100-continue round trip is timed.
 */
export async function curlUpload(addr: string, file: string, n: number, expectS: number): Promise<Transfer> {
  const max = limitS(expectS);
  const r = await run('curl', ['-sS', '--max-time', String(max), '-H', 'Expect:', '-T', file, '-w', '\n%{http_code} %{size_upload} %{time_total}', `http://${addr}/upload`], { timeoutMs: (max + 5) * 1000 });
  const lines = r.stdout.trim().split('\n');
  const [code, , total] = (lines.pop() ?? '').split(' ');
  let got = -1;
  try {
    got = (JSON.parse(lines.join('\n')) as { bytes: number }).bytes;
  } catch {
    // Reported below.
  }
  if (code !== '200' || got !== n) throw new Error(`PUT /upload of ${n} bytes to ${addr}: status ${code}, server counted ${got}`);
  return transfer(n, Number(total));
}

const STREAM_CHUNK = Buffer.alloc(256 * 1024, 0x5a);

/**
 * A raw stream into discard (RFC 863): `n` bytes written with backpressure, then our FIN.
 * Timed from connect() until the server's FIN has arrived: the server reads everything
 * before it sees ours, so at that point every byte was consumed.
 */
export function discardStream(addr: string, port: number, n: number, expectS: number): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const sock = net.connect({ host: addr, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`discard stream to ${addr}:${port} did not finish within ${limitS(expectS)} s`));
    }, limitS(expectS) * 1000);
    let left = n;
    const pump = (): void => {
      while (left > 0) {
        const len = Math.min(left, STREAM_CHUNK.length);
        left -= len;
        if (!sock.write(len === STREAM_CHUNK.length ? STREAM_CHUNK : STREAM_CHUNK.subarray(0, len))) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    sock.once('connect', pump);
    sock.resume();
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once('close', (hadError) => {
      clearTimeout(timer);
      if (hadError) return;
      if (left > 0) {
        reject(new Error(`discard stream to ${addr}:${port} closed with ${left} bytes unsent`));
        return;
      }
      resolve(transfer(n, Number(process.hrtime.bigint() - start) / 1e9));
    });
  });
}

export interface WrkResult {
  rps: number;
  requests: number;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  errors: number;
}

/** wrk -t2 -c32 for `seconds` against `url`; `close` adds `Connection: close` (one connection per request). */
export async function wrk(url: string, seconds: number, close: boolean): Promise<WrkResult> {
  const args = ['-t2', '-c32', `-d${seconds}s`, '--timeout', '2s', ...(close ? ['-H', 'Connection: close'] : []), url];
  const r = await run('wrk', args, { timeoutMs: (seconds + 20) * 1000 });
  const out = r.stdout;
  const rps = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  const reqs = /([0-9]+) requests in/.exec(out);
  if (rps === null || reqs === null) throw new Error(`wrk ${args.join(' ')}: unexpected output:\n${out}${r.stderr}`);
  let errors = 0;
  const non2xx = /Non-2xx or 3xx responses:\s+([0-9]+)/.exec(out);
  if (non2xx !== null) errors += Number(non2xx[1]);
  const sock = /Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)/.exec(out);
  if (sock !== null) errors += sock.slice(1).reduce((a, b) => a + Number(b), 0);
  return { rps: Number(rps[1]), requests: Number(reqs[1]), errors };
}

/**
 * `count` sequential round trips of a `size`-byte message on one echo connection (Nagle
 * off), after `warmup` unrecorded ones. Returns each round trip in microseconds.
 */
export function echoRoundTrips(addr: string, port: number, count: number, size: number, warmup: number, timeoutMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const msg = Buffer.alloc(size, 0x61);
    const samples: number[] = [];
    const sock = net.connect({ host: addr, port, noDelay: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`echo round trips to ${addr}:${port}: only ${samples.length} of ${count} within ${timeoutMs} ms`));
    }, timeoutMs);
    let done = 0;
    let got = 0;
    let sentAt = 0n;
    const send = (): void => {
      got = 0;
      sentAt = process.hrtime.bigint();
      sock.write(msg);
    };
    sock.once('connect', send);
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (got < size) return;
      if (got > size) {
        sock.destroy();
        reject(new Error(`echo from ${addr}:${port} returned ${got} bytes for ${size}`));
        return;
      }
      const us = Number(process.hrtime.bigint() - sentAt) / 1000;
      if (done >= warmup) samples.push(us);
      done++;
      if (samples.length < count) {
        send();
        return;
      }
      clearTimeout(timer);
      sock.end();
      resolve(samples);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Open idle connections: how many were established, and the sockets to close later. */
export interface IdleConnections {
  sockets: net.Socket[];
  failed: number;
  firstError: string | null;
  seconds: number;
}

/**
 * Open `count` connections to `addr:port`, at most `inFlight` handshakes at a time (the
 * listener's backlog is 511 on both sides), and leave them idle. Stops opening new ones
 * after `timeoutMs`.
 */
export function openIdle(addr: string, port: number, count: number, inFlight: number, timeoutMs: number): Promise<IdleConnections> {
  return new Promise((resolve) => {
    const start = Date.now();
    const sockets: net.Socket[] = [];
    let started = 0;
    let pending = 0;
    let failed = 0;
    let firstError: string | null = null;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve({ sockets, failed, firstError, seconds: (Date.now() - start) / 1000 });
    };
    const timer = setTimeout(finish, timeoutMs);
    const next = (): void => {
      while (!finished && pending < inFlight && started < count) {
        started++;
        pending++;
        const s = net.connect({ host: addr, port });
        let settled = false;
        const settle = (ok: boolean, err?: Error): void => {
          if (settled) return;
          settled = true;
          pending--;
          if (ok) sockets.push(s);
          else {
            failed++;
            firstError ??= err?.message ?? 'closed';
          }
          if (pending === 0 && (started === count || finished)) finish();
          else next();
        };
        s.once('connect', () => settle(true));
        s.on('error', (e) => settle(false, e));
        // Echo would send back anything we sent; we send nothing, so any data is a bug.
        s.on('data', () => undefined);
      }
    };
    next();
  });
}

/**
 * Close idle connections with a FIN each, at most `inFlight` closes at a time (as
 * openIdle opens them); resolves with how many had not closed when `timeoutMs` passed
 * (those are destroyed), 0 once all have. A FIN to every connection at once is a burst of
 * FINs and final ACKs that overflows a TUN device's queue (txqueuelen packets, 500 by
 * default), and the retransmissions of the dropped ones back off for tens of seconds.
 */
export function closeAll(sockets: readonly net.Socket[], inFlight: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const queue = sockets.filter((s) => !s.destroyed);
    let next = 0;
    let open = queue.length;
    let finished = false;
    const finish = (left: number): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve(left);
    };
    const timer = setTimeout(() => {
      const left = open;
      for (const s of sockets) s.destroy();
      finish(left);
    }, timeoutMs);
    const closeNext = (): void => {
      const s = queue[next++];
      if (finished || s === undefined) return;
      s.once('close', () => {
        open--;
        if (open === 0) finish(0);
        else closeNext();
      });
      s.end();
    };
    if (open === 0) finish(0);
    for (let i = 0; i < inFlight; i++) closeNext();
  });
}
