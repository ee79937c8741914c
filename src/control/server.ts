/**
 * The local control channel: a Unix domain socket (paths.ts says where) speaking
 * newline-delimited JSON. Each request is one line, an object with a `cmd`; each reply
 * is one line, in request order:
 *
 *   → {"cmd":"stats"}
 *   ← {"connections":[...],"counters":{...},"timeWait":0}
 *   → {"cmd":"ping"}
 *   ← {"ok":true,"pid":1234}
 *   → {"cmd":"nope"}
 *   ← {"error":"unknown command \"nope\"","commands":["ping","stats"]}
 *
 * It is not on the TUN network, so `tuntcp stats` works whatever the stack is doing.
 * Wiring (`tuntcp up`): `await ControlServer.start({ dev, handlers: { stats: () =>
 * statsSnapshot(tcp, stack.counters) } })` after the stack is up, `await server.close()`
 * on shutdown.
 */
import { lstatSync, unlinkSync, chmodSync } from 'node:fs';
import * as net from 'node:net';
import { ControlPathOptions, prepareControlSocketPath } from './paths';

/** A request line: `cmd` plus whatever arguments the command takes. */
export interface ControlRequest {
  cmd: string;
  [arg: string]: unknown;
}

export type ControlHandler = (req: ControlRequest) => unknown;

export interface ControlServerOptions extends ControlPathOptions {
  /** The TUN device name: the socket is NAME.sock in the first usable directory. */
  dev?: string;
  /** An explicit socket path instead (tests); its directory must exist. */
  path?: string;
  /** Commands; `ping` is built in. */
  handlers: Record<string, ControlHandler>;
  /** Keep the process alive while listening (default false: the link owns its lifetime). */
  ref?: boolean;
}

/** Longest request line accepted. */
const MAX_LINE = 64 * 1024;

export class ControlServer {
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  private constructor(readonly path: string, private readonly server: net.Server, private readonly handlers: Record<string, ControlHandler>) {}

  /** Listen on the control socket; removes a stale socket, refuses one that answers. */
  static async start(opts: ControlServerOptions): Promise<ControlServer> {
    const sockPath = opts.path ?? prepareControlSocketPath(opts.dev ?? 'tuntcp0', opts);
    await removeStale(sockPath);
    const handlers: Record<string, ControlHandler> = { ping: () => ({ ok: true, pid: process.pid }), ...opts.handlers };
    const server = net.createServer();
    const cs = new ControlServer(sockPath, server, handlers);
    server.on('connection', (s) => cs.serve(s, opts.ref ?? false));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sockPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {
      // After listening, errors concern single connections; they are handled there.
    });
    try {
      chmodSync(sockPath, 0o600);
    } catch {
      // The directory's 0700 already keeps others out.
    }
    if (!(opts.ref ?? false)) server.unref();
    return cs;
  }

  private serve(sock: net.Socket, ref: boolean): void {
    if (!ref) sock.unref();
    this.sockets.add(sock);
    sock.setEncoding('utf8');
    let buf = '';
    let chain = Promise.resolve();
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        chain = chain.then(() => this.answer(sock, line));
      }
      if (buf.length > MAX_LINE) {
        buf = '';
        chain = chain.then(() => {
          this.write(sock, { error: `request line longer than ${MAX_LINE} bytes` });
          sock.end();
        });
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
  }

  private async answer(sock: net.Socket, line: string): Promise<void> {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return this.write(sock, { error: 'bad request: not JSON' });
    }
    if (typeof req !== 'object' || req === null || typeof (req as ControlRequest).cmd !== 'string') {
      return this.write(sock, { error: 'bad request: expected {"cmd": "..."}' });
    }
    const r = req as ControlRequest;
    const handler = Object.prototype.hasOwnProperty.call(this.handlers, r.cmd) ? this.handlers[r.cmd] : undefined;
    if (handler === undefined) return this.write(sock, { error: `unknown command ${JSON.stringify(r.cmd)}`, commands: Object.keys(this.handlers).sort() });
    try {
      this.write(sock, await handler(r));
    } catch (e) {
      this.write(sock, { error: (e as Error).message ?? String(e) });
    }
  }

  private write(sock: net.Socket, reply: unknown): void {
    if (sock.destroyed || !sock.writable) return;
    sock.write(`${JSON.stringify(reply ?? null)}\n`);
  }

  /** Stop listening, drop clients, remove the socket file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // net.Server unlinks its own socket on close; make sure nothing is left behind.
    try {
      if (lstatSync(this.path).isSocket()) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}

/**
 * A socket file left by a crashed instance refuses connections: remove it. One that
 * answers belongs to a running instance: refuse to take over. Anything else at the path
 * (a regular file) is not ours to delete.
 */
async function removeStale(p: string): Promise<void> {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw Object.assign(new Error(`${p} exists and is not a socket: remove it or pick another --dev`), { code: 'EEXIST' });
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(p);
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1000, () => done(true));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
  if (alive) throw Object.assign(new Error(`another tuntcp is serving ${p}`), { code: 'EADDRINUSE' });
  try {
    unlinkSync(p);
  } catch {
    // Raced with its owner: listen() will report it.
  }
}
