/**
 * A Node `net.Server` work-alike: a passive open on the stack's address, handing each
 * established connection to a new Socket and emitting 'connection'.
 *
 * Events: 'listening', 'connection' (socket), 'error' (EADDRINUSE), 'close' (after
 * close() once every accepted socket has closed, as net).
 */
import { EventEmitter } from 'node:events';
import { EPHEMERAL_HIGH, EPHEMERAL_LOW } from '../tcp/tcp-layer';
import { Listener, ListenerOwner } from '../tcp/listener';
import { ipv4ToString } from '../wire/ipv4';
import { NetError, invalidArgType, nodeError, systemError } from './errors';
import { NetContext, Socket, toPort } from './socket';

export interface ServerOptions {
  /** Keep accepted sockets half open after the peer's FIN (net's option; default false). */
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused (net's option). */
  pauseOnConnect?: boolean;
  /** setNoDelay(true) on accepted sockets. */
  noDelay?: boolean;
  /** setKeepAlive(true, keepAliveInitialDelay) on accepted sockets. */
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}

export interface ListenOptions {
  /** 1-65535, or 0/undefined for a free ephemeral port. */
  port?: number | string;
  backlog?: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export class Server extends EventEmitter implements ListenerOwner {
  /** Connections beyond this are closed as they arrive (net.Server#maxConnections). */
  maxConnections: number | undefined = undefined;
  private listener: Listener | null = null;
  /** Accepted sockets not yet closed (a count, as net keeps: nothing per socket). */
  private liveSockets = 0;
  private closeRequested = false;

  constructor(
    private readonly ctx: NetContext,
    private readonly opts: ServerOptions = {},
    connectionListener?: (socket: Socket) => void,
  ) {
    super();
    if (connectionListener !== undefined) this.on('connection', connectionListener);
  }

  /**
   * Listen: `listen(port[, backlog][, cb])` or `listen({ port, backlog }[, cb])`. Emits
   * 'listening' (and calls cb) on the next tick, or 'error' (EADDRINUSE).
   */
  listen(port?: number | string | ListenOptions, backlog?: number | (() => void), cb?: () => void): this {
    let o: ListenOptions;
    if (typeof port === 'object' && port !== null) o = port;
    else o = { port };
    if (typeof backlog === 'function') cb = backlog;
    else if (typeof backlog === 'number') o = { ...o, backlog };
    if (cb !== undefined && typeof cb !== 'function') throw invalidArgType('callback', 'of type function', cb);
    if (this.listener !== null) throw nodeError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    const p = o.port === undefined ? 0 : toPort(o.port, 'options.port', true);
    const bl = o.backlog !== undefined && Number.isInteger(o.backlog) && o.backlog > 0 ? o.backlog : undefined;
    if (cb !== undefined) this.once('listening', cb);
    try {
      this.listener = p === 0 ? this.listenEphemeral(bl) : this.ctx.tcp.listen(p, this, bl);
    } catch (e) {
      const err = (e as { code?: string }).code === 'EADDRINUSE' ? addrInUse(ipv4ToString(this.ctx.tcp.address), p) : e;
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    this.closeRequested = false;
    process.nextTick(() => {
      if (this.listener !== null) this.emit('listening');
    });
    return this;
  }

  /** Port 0: a free port from the ephemeral range, as the kernel would pick. */
  private listenEphemeral(backlog: number | undefined): Listener {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      try {
        return this.ctx.tcp.listen(port, this, backlog);
      } catch (e) {
        if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
      }
    }
    throw addrInUse(ipv4ToString(this.ctx.tcp.address), 0);
  }

  get listening(): boolean {
    return this.listener !== null;
  }

  address(): AddressInfo | null {
    if (this.listener === null) return null;
    return { address: ipv4ToString(this.ctx.tcp.address), family: 'IPv4', port: this.listener.port };
  }

  /**
   * Stop accepting. Established connections carry on; 'close' follows once they have all
   * closed. `cb` is called then (with ERR_SERVER_NOT_RUNNING if we were not listening).
   */
  close(cb?: (err?: Error) => void): this {
    if (typeof cb === 'function') {
      if (this.listener === null) this.once('close', () => cb(nodeError('ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      else this.once('close', () => cb());
    }
    if (this.listener !== null) {
      this.ctx.tcp.unlisten(this.listener, this.ctx.stack.clock());
      this.listener = null;
      this.ctx.stack.schedule();
    }
    this.closeRequested = true;
    this.emitCloseIfDrained();
    return this;
  }

  /** One accepted socket closed: the listener every accepted socket shares. */
  private readonly socketClosed = (): void => {
    this.liveSockets--;
    this.emitCloseIfDrained();
  };

  /** Emit 'connection' for a socket that took over an accepted connection (Socket._accept). */
  private readonly announce = (sock: Socket): void => {
    const o = this.opts;
    if (o.noDelay === true) sock.setNoDelay(true);
    if (o.keepAlive === true) sock.setKeepAlive(true, o.keepAliveInitialDelay ?? 0);
    try {
      this.emit('connection', sock);
    } catch (err) {
      // User code must not unwind the stack's flush: report it as uncaught, on its own tick.
      process.nextTick(() => {
        throw err;
      });
    }
  };

  private emitCloseIfDrained(): void {
    if (this.listener !== null || this.liveSockets > 0 || !this.closeRequested) return;
    this.closeRequested = false;
    process.nextTick(() => this.emit('close'));
  }

  /** Live accepted sockets (net's deprecated `server.connections`). */
  get connections(): number {
    return this.liveSockets;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.liveSockets;
    process.nextTick(() => cb(null, n));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // ListenerOwner: established connections wait in the accept queue.
  onAcceptable(listener: Listener): void {
    const now = this.ctx.stack.clock();
    for (let conn = listener.accept(); conn !== null; conn = listener.accept()) {
      if (this.maxConnections !== undefined && this.liveSockets >= this.maxConnections) {
        // As net: over the limit, the connection is closed at once. It still needs an
        // owner that drains its events, or the layer could never retire it.
        conn.owner = DRAIN;
        conn.close(now);
        this.emit('drop', {
          localAddress: ipv4ToString(conn.localAddr),
          localPort: conn.localPort,
          localFamily: 'IPv4',
          remoteAddress: ipv4ToString(conn.remoteAddr),
          remotePort: conn.remotePort,
          remoteFamily: 'IPv4',
        });
        continue;
      }
      const o = this.opts;
      const sock = new Socket(this.ctx, {
        allowHalfOpen: o.allowHalfOpen === true,
        ...(o.highWaterMark !== undefined ? { readableHighWaterMark: o.highWaterMark, writableHighWaterMark: o.highWaterMark } : {}),
      });
      sock.server = this;
      this.liveSockets++;
      // One listener shared by all of this server's sockets: an idle connection carries
      // no closure of its own for it.
      sock.on('close', this.socketClosed);
      sock._accept(conn, o.pauseOnConnect === true, this.announce);
    }
  }
}

/** Node's listen error: `listen EADDRINUSE: address already in use 10.77.0.2:80`. */
function addrInUse(address: string, port: number): NetError {
  const err = systemError('EADDRINUSE', 'listen', address, port);
  err.message = `listen EADDRINUSE: address already in use ${address}:${port}`;
  return err;
}

/** Owner for connections nobody holds: drains their events so the layer can retire them. */
const DRAIN = {
  onConnectionEvents(c: { pollEvent(): number }): void {
    while (c.pollEvent() !== 0);
  },
};
